"""zoo/gcn_cora.pt is a native, data-only checkpoint with the metadata the README promises."""

from __future__ import annotations

from pathlib import Path

import pytest
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
    from gnneval._plugins.manager import build_plugin_host
    from gnneval.load.checkpoint import load_checkpoint

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


ZOO_MORE = {  # name -> (architecture, task, dataset, stored metric, at least)
    "gat_cora": ("gat", "node-classification", "Cora", "test_accuracy", 0.80),
    "sage_citeseer": ("sage", "node-classification", "CiteSeer", "test_accuracy", 0.67),
    "gin_mutag": ("graph-classifier", "graph-classification", "MUTAG", "test_accuracy", 0.85),
    "gcn_link_cora": ("gcn", "link-prediction", "Cora", "test_auc", 0.88),
}


@pytest.mark.parametrize("name", list(ZOO_MORE))
def test_more_zoo_checkpoints_are_data_only_and_reproduce_their_stored_metric(name, shared_datasets):
    """Each loads with weights_only, names its recipe, and evaluating it here gives the stored number."""
    import numpy as np

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.load.checkpoint import load_checkpoint
    from gnneval.load.datasets import load_dataset
    from gnneval.model.forward import run_model
    from gnneval.plugin import DatasetContext

    arch, task, dataset, key, floor = ZOO_MORE[name]
    path = REPO / "zoo" / f"{name}.pt"
    raw = torch.load(path, weights_only=True, map_location="cpu")
    assert raw["architecture"]["name"] == arch and raw["task"] == task and raw["dataset"]["name"] == dataset
    assert raw["training"]["recipe"] == f"zoo/train_zoo.py {name}" and raw["training"]["seed"] == 0
    assert raw["metrics"][key] >= floor
    host = build_plugin_host()
    loaded, loader = load_checkpoint(path, host.registry)
    assert loader == "native"
    from gnneval.core.paths import default_cache_dir

    graph, _ = load_dataset(host.registry, loaded.dataset, DatasetContext(shared_datasets, default_cache_dir(), 0))
    out = run_model(loaded.model, graph)
    d = graph.data
    if task == "link-prediction":
        from sklearn.metrics import roc_auc_score

        z, idx = out.logits, d.test_edge_label_index.numpy()
        got = roc_auc_score(d.test_edge_label.numpy(), (z[idx[0]] * z[idx[1]]).sum(1))
    else:
        m = d.test_mask.numpy()
        got = float(np.mean(out.predictions[m] == d.y.numpy()[m]))
    assert got == pytest.approx(raw["metrics"][key], abs=1e-6)


def test_zoo_recipes_are_committed_and_seeded():
    text = (REPO / "zoo" / "train_zoo.py").read_text()
    assert "use_deterministic_algorithms(True)" in text and text.count('"seed": 0') == len(ZOO_MORE)
