"""Pruned variants saved as compressed native checkpoints: masks, weights and shapes survive the round
trip with PyG layers, files shrink with sparsity, and the saved files evaluate again."""

from __future__ import annotations

import copy

import pytest
import torch

from gnneval._plugins.manager import build_plugin_host
from gnneval.builtin.datasets.synthetic import make_sbm
from gnneval.load.checkpoint import load_checkpoint
from gnneval.load.sparse_tensors import decode, encode, encoded_bytes
from gnneval.plugin import DatasetRef, GraphData, PruneContext
from gnneval.store.checkpoints import save_checkpoint

REG = build_plugin_host().registry


@pytest.fixture(scope="module")
def graph():
    return GraphData("sbm", "node-classification", make_sbm(nodes=300, seed=1), 32, 4, "generated")


@pytest.mark.parametrize("density", [1.0, 0.5, 0.1, 0.02, 0.0])
def test_encodings_are_exact_and_pick_the_smallest(density):
    g = torch.Generator().manual_seed(0)
    t = torch.randn(64, 300, generator=g) * (torch.rand(64, 300, generator=g) < density)
    enc = encode(t)
    assert torch.equal(decode(enc), t)
    assert encoded_bytes(enc) <= t.numel() * 4
    if density <= 0.5:
        assert encoded_bytes(enc) < 0.6 * t.numel() * 4  # really smaller
    if density == 0.02:
        assert enc["gnneval-encoding"] == "csr"
    if density == 0.5:
        assert enc["gnneval-encoding"] == "bitmask"


ARCHS = [
    ("gcn", {"hidden_channels": 32, "num_layers": 2}),
    ("sage", {"hidden_channels": 32, "num_layers": 2}),
    ("gat", {"hidden_channels": 32, "num_layers": 2, "heads": 4}),
    ("gin", {"hidden_channels": 32, "num_layers": 2}),
]


@pytest.mark.parametrize("arch,kw", ARCHS)
@pytest.mark.parametrize("pruner,sparsity", [("magnitude", 0.9), ("structured", 0.5), ("hybrid", 0.8)])
def test_masks_weights_and_shapes_survive_the_round_trip(arch, kw, pruner, sparsity, graph, tmp_path):
    kwargs = {"in_channels": 32, "out_channels": 4, **kw}
    torch.manual_seed(0)
    dense = REG.build_architecture(arch, **kwargs).eval()
    out = REG.get("pruner", pruner).obj().prune(copy.deepcopy(dense), sparsity, PruneContext(graph, arch, seed=0))
    model = out.model.eval()
    dense_path, path = tmp_path / "dense.pt", tmp_path / "pruned.pt"
    common = dict(
        architecture=arch,
        architecture_kwargs=kwargs,
        task="node-classification",
        dataset=DatasetRef("sbm"),
        metrics={},
        training={},
    )
    save_checkpoint(dense_path, model=dense, pruning={"pruner": "none", "sparsity": 0.0}, **common)
    save_checkpoint(path, model=model, masks=out.masks, pruning={"pruner": pruner, "sparsity": sparsity}, **common)
    loaded, loader = load_checkpoint(path, REG)
    assert loader == "native"
    got, want = loaded.model.state_dict(), model.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert loaded.masks.keys() == out.masks.keys()
    assert all(torch.equal(loaded.masks[k], out.masks[k].bool()) for k in out.masks)
    x, ei = graph.data.x, graph.data.edge_index
    with torch.no_grad():
        assert torch.equal(loaded.model(x, ei), model(x, ei))
    assert path.stat().st_size < 0.8 * dense_path.stat().st_size  # the file really shrank (tiny model: zip overhead)
    assert loaded.metadata["pruning"]["pruner"] == pruner


def test_save_pruned_in_evaluate_and_the_files_evaluate_again(sbm_checkpoint, tmp_path):
    from gnneval.cli import main
    from gnneval.store.hdf5 import read_run

    common = ["--no-progress", "--no-bench", "--visualisers", "curves", "--metrics", "accuracy"]
    assert (
        main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "magnitude,structured",
                "--sparsity",
                "0.5,0.9",
                "--save-pruned",
                "--out",
                str(tmp_path / "a"),
                *common,
            ]
        )
        == 0
    )
    run = read_run(tmp_path / "a")
    files = {p.stem: p for p in (tmp_path / "a" / "checkpoints").glob("*.pt")}
    assert set(files) == {"dense", "magnitude@0.50", "magnitude@0.90", "structured@0.50", "structured@0.90"}
    for v in run.variants:
        assert v.checkpoint_bytes == files[v.id].stat().st_size
    assert (
        run.variant("magnitude@0.90").checkpoint_bytes < 0.8 * run.dense.checkpoint_bytes
    )  # 1,188 params: zip overhead
    assert run.variant("magnitude@0.90").checkpoint_bytes < run.variant("magnitude@0.50").checkpoint_bytes
    for vid in ("magnitude@0.90", "structured@0.50"):  # a saved variant is a checkpoint like any other
        assert (
            main(
                [
                    "evaluate",
                    str(files[vid]),
                    "--pruner",
                    "magnitude",
                    "--sparsity",
                    "0.5",
                    "--out",
                    str(tmp_path / vid),
                    *common,
                ]
            )
            == 0
        )
        again = read_run(tmp_path / vid)
        assert again.dense.metrics["accuracy.test"] == pytest.approx(run.variant(vid).metrics["accuracy.test"])
        assert again.dense.nonzero_params == run.variant(vid).nonzero_params
