"""The HDF5 layout round-trips, and writes are atomic."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from gnneval.plugin import BenchResult, GraphArrays, Problem, Provenance, RunResult, VariantOutputs, VariantResult
from gnneval.store.hdf5 import read_run, write_run


def make_run(n_variants: int = 2) -> RunResult:
    rng = np.random.default_rng(0)
    n = 50
    graph = GraphArrays(
        name="toy",
        task="node-classification",
        y=rng.integers(0, 3, n),
        masks={s: rng.random(n) < 0.3 for s in ("train", "val", "test")},
        edge_index=rng.integers(0, n, (2, 200)),
        num_classes=3,
        num_features=8,
    )
    prov = Provenance(
        checkpoint_path="x.pt",
        checkpoint_sha256="ab" * 32,
        checkpoint_loader="native",
        architecture="gcn",
        architecture_kwargs={"in_channels": 8, "hidden_channels": 16},
        dataset="toy",
        dataset_loader="sbm",
        dataset_source="generated",
        task="node-classification",
        seed=7,
        device="cpu",
        command="gnneval evaluate x.pt",
        created="2026-01-01T00:00:00+00:00",
        versions={"torch": "2.13.0"},
        plugins={"native": "gnneval 0.1.0"},
        settings={"sparsities": [0.5], "pruners": ["structured"]},
        checkpoint_metadata={"metrics": {"test": 0.8}},
    )
    variants = []
    for i in range(n_variants):
        width = 16 - 4 * i
        out = VariantOutputs(
            logits=rng.standard_normal((n, 3)).astype(np.float32),
            predictions=rng.integers(0, 3, n),
            embeddings={
                "convs.0": rng.standard_normal((n, width)).astype(np.float32),
                "convs.1": rng.standard_normal((n, 3)).astype(np.float32),
            },
        )
        v = VariantResult(
            id="dense" if i == 0 else f"structured@0.{i}0",
            pruner=None if i == 0 else "structured",
            sparsity=0.0 if i == 0 else i / 10,
            params=100 - i,
            nonzero_params=90 - i,
            size_bytes=400,
            flops=1000,
            flops_sparse=900,
            weight_sparsity=0.1 * i,
            param_reduction=0.05 * i,
            layer_sparsity={"convs.0.lin.weight": 0.5},
            metrics={"accuracy.test": 0.8 - i / 10},
            layer_metrics={"convs.0": {"linear-cka.dense": 1.0}},
            details={"channels": {"convs.0": "16->12"}},
            outputs=out,
            seconds=0.5,
            bench=[BenchResult("torch", "cpu", 1.0, 0.9, 1.2, 20, 3, 2, 5e4, 1024, "eager")],
        )
        variants.append(v)
    failed = VariantResult(id="structured@0.99", pruner="structured", sparsity=0.99, status="failed", error="boom")
    return RunResult(
        provenance=prov,
        graph=graph,
        variants=variants + [failed],
        problems=[Problem("variant structured@0.99", "boom")],
        files={"curves": "a.png"},
    )


def test_round_trip(tmp_path):
    run = make_run(3)
    path = write_run(tmp_path / "run.h5", run)
    back = read_run(path)
    assert back.provenance == run.provenance
    assert back.problems == run.problems and back.files == run.files
    np.testing.assert_array_equal(back.graph.y, run.graph.y)
    np.testing.assert_array_equal(back.graph.edge_index, run.graph.edge_index)
    for k in run.graph.masks:
        np.testing.assert_array_equal(back.graph.masks[k], run.graph.masks[k])
    assert [v.id for v in back.variants] == [v.id for v in run.variants]
    for a, b in zip(run.variants, back.variants):
        for field in (
            "pruner",
            "sparsity",
            "status",
            "error",
            "params",
            "nonzero_params",
            "size_bytes",
            "flops",
            "flops_sparse",
            "weight_sparsity",
            "param_reduction",
            "layer_sparsity",
            "metrics",
            "layer_metrics",
            "details",
            "bench",
            "seconds",
        ):
            assert getattr(a, field) == getattr(b, field), field
        if a.outputs is None:
            assert b.outputs is None
            continue
        assert list(a.outputs.embeddings) == list(b.outputs.embeddings)  # call order kept
        for layer in a.outputs.embeddings:
            np.testing.assert_array_equal(a.outputs.embeddings[layer], b.outputs.embeddings[layer])
        np.testing.assert_array_equal(a.outputs.logits, b.outputs.logits)
        np.testing.assert_array_equal(a.outputs.predictions, b.outputs.predictions)


def test_documented_layout(tmp_path):
    path = write_run(tmp_path / "run.h5", make_run(2))
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "gnneval-run" and f.attrs["format_version"] == 2
        assert f["provenance"].attrs["checkpoint_sha256"] == "ab" * 32
        assert f["graph/masks/test"].dtype == bool
        assert f["variants/dense/embeddings/0:convs.0"].shape == (50, 16)
        assert f["variants/structured@0.10/embeddings/0:convs.0"].shape == (50, 12)
        assert f["variants/dense/metrics"].attrs["accuracy.test"] == pytest.approx(0.8)
        assert f["variants/dense/bench/torch-cpu"].attrs["median_ms"] == 1.0


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = write_run(tmp_path / "run.h5", make_run(2))
    before = path.read_bytes()

    def crash(*_a, **_k):
        raise KeyboardInterrupt  # killed in the middle of writing the new file

    monkeypatch.setattr("gnneval.store.hdf5._write", lambda f, r: (f.create_group("half"), crash()))
    with pytest.raises(KeyboardInterrupt):
        write_run(path, make_run(3))
    assert path.read_bytes() == before
    assert not (tmp_path / "run.h5.tmp").exists()
    assert len(read_run(path).variants) == 3  # 2 + the failed one


@pytest.mark.slow
def test_killed_writer_process_never_corrupts(tmp_path):
    """SIGKILL a process that rewrites the file in a loop; the file is always readable."""
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "run.h5"
    write_run(path, make_run(2))
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path.parent)!r})\n"
        "from gnneval.store.hdf5 import write_run\n"
        f"from importlib.machinery import SourceFileLoader\n"
        f"m = SourceFileLoader('t', {__file__!r}).load_module()\n"
        f"while True: write_run({str(path)!r}, m.make_run(4))\n"
    )
    for delay in (0.3, 0.55, 0.8):
        proc = subprocess.Popen([sys.executable, "-c", code])
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        run = read_run(path)
        assert len(run.variants) in (3, 5)


def test_run_file_doc_matches_what_is_written(gnneval_run, tmp_path):
    """docs/run-file.md lists every group and dataset gnneval writes, and nothing it does not."""
    import re

    import h5py

    from gnneval.store.hdf5 import write_run

    doc = (Path(__file__).resolve().parents[1] / "docs" / "run-file.md").read_text()
    documented = re.findall(r"^\| `(/[^`]*)` \|", doc, flags=re.M)

    def pattern(d: str) -> re.Pattern:
        return re.compile(
            "^" + re.sub(r"<[a-z]+>", "[^/]+", re.escape(d).replace(r"\<", "<").replace(r"\>", ">")) + "$"
        )

    patterns = [pattern(d) for d in documented]
    parents = [pattern(d.rsplit("/", 1)[0]) for d in documented if d.count("/") > 1]  # the groups that hold them
    import copy
    from dataclasses import replace

    run = copy.deepcopy(gnneval_run)
    run.variants[0].bench.append(BenchResult("torch", "cpu", 1.0, 0.9, 1.1, 10, 3, 2, 1000.0, 0))
    run.graph = replace(run.graph, embedding_nodes=np.arange(0, run.graph.num_nodes, 2))  # a stored sample too
    path = write_run(tmp_path / "run.h5", run)
    written = []
    with h5py.File(path, "r") as f:
        f.visit(lambda name: written.append("/" + name))
    written.append("/")
    inside_link = re.compile(r"^/graph/link/")
    undocumented = [w for w in written if not inside_link.match(w) and not any(p.match(w) for p in patterns + parents)]
    assert not undocumented, f"written but not in docs/run-file.md: {undocumented}"
    unused = [
        d
        for d, p in zip(documented, patterns)
        if not any(p.match(w) for w in written) and d not in ("/graph/batch", "/graph/link")
    ]
    assert not unused, f"documented but never written: {unused}"


def test_variants_are_appended_in_place_and_a_torn_one_is_ignored(gnneval_run, tmp_path, monkeypatch):
    """After the first write, a variant costs its own data: the file is not rewritten (so a 100 MB metadata
    string or a large graph is written once), and a variant torn by a kill is skipped on read."""
    import copy

    import h5py

    from gnneval.store import hdf5

    run = copy.deepcopy(gnneval_run)
    first = copy.deepcopy(run)
    first.variants = run.variants[:1]
    path = write_run(tmp_path / "run.h5", first)
    calls = []
    monkeypatch.setattr(hdf5, "_write", lambda *a, **k: calls.append(a))
    for v in run.variants[1:]:
        first.variants.append(v)
        hdf5.append_variant(path, first, v)
    assert calls == []
    assert [v.id for v in read_run(path).variants] == [v.id for v in run.variants]
    with h5py.File(path, "a") as f:  # a kill in the middle of the last variant's data
        f["variants"][run.variants[-1].id].attrs["complete"] = False
    assert [v.id for v in read_run(path).variants] == [v.id for v in run.variants[:-1]]
