"""zoo/gcn_cora.pt is a native, data-only checkpoint with the metadata the README promises."""

from __future__ import annotations

from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "zoo" / "gcn_cora.pt"


def test_loads_as_data_only():
    ckpt = torch.load(ZOO, weights_only=True, map_location="cpu")
    assert ckpt["format"] == "gnneval-checkpoint" and ckpt["format_version"] == 1
    arch = ckpt["architecture"]
    assert arch["name"] == "gcn" and arch["kwargs"]["num_layers"] == 2 and arch["kwargs"]["hidden_channels"] >= 64
    assert ckpt["task"] == "node-classification"
    assert ckpt["dataset"] == {"name": "Cora", "loader": "planetoid", "split": "public", "options": {}}
    assert ckpt["metrics"]["test_accuracy"] >= 0.80
    assert ckpt["training"]["recipe"] == "zoo/train_gcn_cora.py" and ckpt["training"]["seed"] == 0
    for lib in ("torch", "torch_geometric", "python", "gnneval"):
        assert lib in ckpt["versions"]
    assert all(isinstance(v, torch.Tensor) for v in ckpt["state_dict"].values())


def test_builds_through_the_registered_architecture():
    from gnneval.checkpoint import load_checkpoint
    from gnneval.manager import build_plugin_host

    host = build_plugin_host()
    loaded, loader = load_checkpoint(ZOO, host.registry)
    assert loader == "native"
    from torch_geometric.nn import GCNConv

    convs = [m for m in loaded.model.modules() if isinstance(m, GCNConv)]
    assert len(convs) == 2 and convs[0].out_channels == 64
    assert loaded.dataset.name == "Cora"


def test_recipe_is_committed_and_seeded():
    recipe = (REPO / "zoo" / "train_gcn_cora.py").read_text()
    assert '"seed": 0' in recipe and "save_checkpoint" in recipe and "use_deterministic_algorithms" in recipe
