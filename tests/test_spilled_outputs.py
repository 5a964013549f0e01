"""The dense model's outputs kept memory-mapped while the variants are compared with them (above
``defaults.SPILL_BYTES``): the same metrics to the last bit as a run that keeps them in memory, said in the run,
the pages given back after each variant, the scratch folder gone when the variants are done."""

from __future__ import annotations

import numpy as np

from gnneval.cli import main
from gnneval.core import defaults
from gnneval.store import spilled
from gnneval.store.hdf5 import read_run

ARGS = ["--pruner", "magnitude,random", "--sparsity", "0.5", "--no-bench", "--no-progress", "--visualisers",
        "curves", "--metrics", "accuracy,agreement,output-jsd,linear-cka,procrustes,knn-overlap,rbf-cka"]  # fmt: skip


def test_spilled_dense_outputs_give_the_same_run(sbm_checkpoint, tmp_path, monkeypatch, capsys):
    assert main(["evaluate", str(sbm_checkpoint), *ARGS, "--out", str(tmp_path / "memory")]) == 0
    assert "memory-mapped" not in capsys.readouterr().err
    seen: list[type] = []

    def release(outputs):
        seen.extend(type(a) for a in outputs.embeddings.values())
        real(outputs)

    real = spilled.release_pages
    monkeypatch.setattr(defaults, "SPILL_BYTES", 0)
    monkeypatch.setattr(spilled, "release_pages", release)
    assert main(["evaluate", str(sbm_checkpoint), *ARGS, "--out", str(tmp_path / "mapped")]) == 0
    assert "kept memory-mapped in the run folder" in capsys.readouterr().err
    assert seen and all(issubclass(t, np.memmap) for t in seen)  # the variants were compared with the mapped arrays
    assert not list((tmp_path / "mapped").glob(f"{spilled.SCRATCH_PREFIX}*"))
    a, b = read_run(tmp_path / "memory"), read_run(tmp_path / "mapped")
    for x, y in zip(a.variants, b.variants, strict=True):
        assert x.metrics == y.metrics and x.layer_metrics == y.layer_metrics, x.id
        for layer, emb in x.outputs.embeddings.items():
            assert np.array_equal(emb, y.outputs.embeddings[layer])


def test_small_outputs_stay_in_memory(tmp_path):
    from gnneval.core.records import VariantOutputs

    x = np.ones((10, 4), np.float32)
    out = VariantOutputs(logits=x, predictions=np.zeros(10, np.int64), embeddings={"conv": x})
    assert spilled.outputs_bytes(out) == x.nbytes  # shared memory counted once
    with spilled.spilled(out, tmp_path, x.nbytes) as kept:
        assert kept is out
    (tmp_path / f"{spilled.SCRATCH_PREFIX}killed").mkdir()  # a killed run's scratch goes with the next run's
    with spilled.spilled(out, tmp_path, 0) as mapped:
        assert isinstance(mapped.embeddings["conv"], np.memmap) and np.array_equal(mapped.logits, x)
        spilled.release_pages(mapped)
        assert np.array_equal(mapped.embeddings["conv"], x)  # read again after the pages went
    assert not list(tmp_path.iterdir())


def test_the_in_memory_arrays_go_once_mapped(tmp_path):
    """While the block runs only the mapped arrays are held: nothing keeps the in-memory ones (their tensors)
    alive, or the memory would not come back."""
    import gc
    import weakref

    from gnneval.core.records import VariantOutputs

    x = np.ones((64, 8), np.float32)
    gone = weakref.ref(x)
    out = VariantOutputs(logits=x, predictions=np.zeros(64, np.int64), embeddings={"conv": x})
    del x
    with spilled.spilled(out, tmp_path, 0) as mapped:
        del out
        gc.collect()
        assert gone() is None and float(mapped.logits.sum()) == 64 * 8


def _resident_kib(path) -> int:
    """This process's resident KiB of the file ``path``'s mappings (/proc/self/smaps)."""
    kib, inside = 0, False
    for line in open("/proc/self/smaps"):
        head = line.split()
        if len(head) >= 5 and "-" in head[0] and ":" not in head[0]:  # a mapping's first line
            inside = line.rstrip().endswith(str(path))
        elif inside and head[0] == "Rss:":
            kib += int(head[1])
    return kib


def test_each_dense_layer_is_given_back_when_its_metrics_are_done(tmp_path):
    """The metrics read one layer at a time: a memory-mapped dense layer's pages leave the process's resident
    memory before the next layer is measured, so at most one layer's are resident (not all of them)."""
    import pytest

    from gnneval.core.contract import GraphArrays
    from gnneval.core.records import VariantOutputs
    from gnneval.measure.metrics import MetricSettings, compute_metric
    from gnneval.plugin import Metric

    if not open("/proc/self/smaps").read(1):
        pytest.skip("no /proc/self/smaps here: cannot see which pages are resident")
    n, layers = 8192, ["conv1", "conv2", "conv3"]
    rng = np.random.default_rng(0)
    emb = {name: rng.standard_normal((n, 64)).astype(np.float32) for name in layers}
    dense = VariantOutputs(emb["conv3"][:, :4].copy(), np.zeros(n, np.int64), emb)
    graph = GraphArrays("t", "node-classification", np.arange(n) % 4, {"train": np.ones(n, bool)},
                        np.zeros((2, 0), np.int64), 4, 64)  # fmt: skip
    resident: list[dict[str, int]] = []

    class ReadsAll(Metric):
        name = "reads-all"
        level = "layer"
        needs_dense = True

        def compute(self, inputs):
            total = float(np.asarray(inputs.dense_embedding, np.float64).sum())  # every page of this layer read
            resident.append({f.stem: _resident_kib(f) for f in scratch.glob("*.npy")})
            return {"sum": total}

    with spilled.spilled(dense, tmp_path, 0) as mapped:
        scratch = next(tmp_path.glob(f"{spilled.SCRATCH_PREFIX}*"))
        compute_metric(ReadsAll(), graph, dense, mapped, MetricSettings(0, 100, 10, 60), "reads-all on v")
        after = {f.stem: _resident_kib(f) for f in scratch.glob("*.npy")}
    assert len(resident) == 3
    for i, seen in enumerate(resident):  # on layer i, its pages are in; the layers before it were given back
        assert seen[f"layer{i}"] >= n * 64 * 4 // 1024 and all(seen[f"layer{j}"] == 0 for j in range(i)), (i, seen)
    assert not any(after.values()), after
