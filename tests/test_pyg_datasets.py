"""Every PyG dataset by name, read from small fixtures written here in each class's own raw layout (never
downloading): Amazon (an .npz, no official split: a seeded stratified one, said as such), WikiCS (a JSON with
20 official splits as 2-D masks), TUDataset with any name (Mutagenicity's text files); the user's folder is
never written to."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gnneval.cli import main
from gnneval.plugin import DatasetContext
from gnneval.store.hdf5 import read_run
from gnneval.testing import plugin_host


def _amazon(root, n=60, f=10, classes=3):
    """``Amazon/Computers/raw/amazon_electronics_computers.npz``: CSR adjacency and attributes, labels."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    adj = sp.random(n, n, density=0.08, random_state=0, format="csr", dtype=np.float32)
    attr = sp.random(n, f, density=0.3, random_state=1, format="csr", dtype=np.float32)
    raw = root / "Amazon" / "Computers" / "raw"
    raw.mkdir(parents=True)
    np.savez(raw / "amazon_electronics_computers.npz", adj_data=adj.data, adj_indices=adj.indices,
             adj_indptr=adj.indptr, adj_shape=adj.shape, attr_data=attr.data, attr_indices=attr.indices,
             attr_indptr=attr.indptr, attr_shape=attr.shape, labels=rng.integers(0, classes, n))  # fmt: skip


def _wikics(root, n=50, f=8, splits=20):
    rng = np.random.default_rng(1)
    data = {
        "features": rng.normal(size=(n, f)).tolist(),
        "labels": rng.integers(0, 4, n).tolist(),
        "links": [sorted(set(rng.integers(0, n, 3).tolist()) - {i}) for i in range(n)],
        "train_masks": [(rng.random(n) < 0.3).tolist() for _ in range(splits)],
        "val_masks": [(rng.random(n) < 0.2).tolist() for _ in range(splits)],
        "stopping_masks": [(rng.random(n) < 0.2).tolist() for _ in range(splits)],
        "test_mask": (rng.random(n) < 0.5).tolist(),
    }
    (root / "WikiCS" / "raw").mkdir(parents=True)
    (root / "WikiCS" / "raw" / "data.json").write_text(json.dumps(data))
    return data


def _mutagenicity(root, graphs=30):
    """TU's text layout: ``<NAME>_A.txt``, ``_graph_indicator.txt``, ``_graph_labels.txt``, ``_node_labels.txt``."""
    rng = np.random.default_rng(2)
    raw = root / "Mutagenicity" / "raw"
    raw.mkdir(parents=True)
    edges, indicator, node_labels, start = [], [], [], 1
    for g in range(graphs):
        size = int(rng.integers(4, 9))
        for i in range(size - 1):
            edges += [(start + i, start + i + 1), (start + i + 1, start + i)]
        indicator += [g + 1] * size
        node_labels += rng.integers(0, 5, size).tolist()
        start += size
    lines = {"A": [f"{a}, {b}" for a, b in edges], "graph_indicator": indicator,
             "graph_labels": [g % 2 for g in range(graphs)], "node_labels": node_labels}  # fmt: skip
    for part, values in lines.items():  # one value per line, each line ended, as TU's files are
        (raw / f"Mutagenicity_{part}.txt").write_text("".join(f"{v}\n" for v in values))


def _load(dataset, root, cache, **options):
    from gnneval.load.datasets import load_dataset
    from gnneval.plugin import DatasetRef

    return load_dataset(plugin_host().registry, DatasetRef(dataset, options=options),
                        DatasetContext(root=root, cache_dir=cache, seed=0))  # fmt: skip


def _listing(path):
    return sorted((str(p.relative_to(path)), p.stat().st_mtime_ns) for p in path.rglob("*"))


def test_amazon_by_name_with_a_stated_seeded_split(tmp_path):
    root = tmp_path / "data"
    _amazon(root)
    before = _listing(root)
    graph, loader = _load("Amazon", root, tmp_path / "cache", name="Computers")
    assert loader == "pyg-datasets" and graph.name == "Amazon-Computers" and graph.task == "node-classification"
    assert graph.num_features == 10 and graph.split.startswith("stratified 60/20/20 by class, seed 0")
    assert "no official split" in graph.split and "copied to" in graph.source
    d = graph.data
    assert not (d.train_mask & d.test_mask).any() and int(d.train_mask.sum()) > 0
    assert _listing(root) == before  # the user's folder untouched


def test_wikics_official_splits_are_the_columns(tmp_path):
    root = tmp_path / "data"
    raw = _wikics(root)
    graph, _ = _load("WikiCS", root, tmp_path / "cache", split_index=3)
    assert graph.split.startswith("the dataset's official split 3 of 20")
    assert graph.data.train_mask.tolist() == raw["train_masks"][3]
    with pytest.raises(Exception, match="split_index 25: the dataset has 20 official splits"):
        _load("WikiCS", root, tmp_path / "cache2", split_index=25)


def test_any_tu_name(tmp_path):
    root = tmp_path / "data"
    _mutagenicity(root)
    graph, loader = _load("Mutagenicity", root, tmp_path / "cache")
    assert loader == "tu" and graph.task == "graph-classification" and int(graph.data.y.shape[0]) == 30
    graph, _ = _load("TUDataset", root, tmp_path / "cache", name="Mutagenicity")
    assert graph.name == "Mutagenicity"


def test_unknown_options_and_missing_files_are_one_line(tmp_path, capsys):
    with pytest.raises(Exception, match="dataset Amazon takes no option colour; its options: name"):
        _load("Amazon", tmp_path, tmp_path / "cache", name="Computers", colour="red")


@pytest.mark.slow
def test_a_model_evaluates_on_a_pyg_dataset_by_name(tmp_path, capsys):
    from gnneval.plugin import DatasetRef, GraphData
    from gnneval.store.checkpoints import save_checkpoint
    from gnneval.testing import small_model

    root = tmp_path / "data"
    _amazon(root, n=80)
    graph, _ = _load("Amazon", root, tmp_path / "cache", name="Computers")
    model = small_model(GraphData("a", "node-classification", graph.data, 10, graph.num_classes, "x"), epochs=30)
    ckpt = save_checkpoint(tmp_path / "gcn.pt", model=model, architecture="gcn",
                           architecture_kwargs={"in_channels": 10, "hidden_channels": 32,
                                                "out_channels": graph.num_classes, "num_layers": 2},
                           task="node-classification",
                           dataset=DatasetRef("Amazon", options={"name": "Computers"}), metrics={}, training={})  # fmt: skip
    out = tmp_path / "run"
    assert main(["evaluate", str(ckpt), "--data-root", str(root), "--pruner", "magnitude", "--sparsity", "0.5",
                 "--no-bench", "--no-progress", "--visualisers", "curves", "--metrics", "accuracy",
                 "--out", str(out)]) == 0  # fmt: skip
    run = read_run(out)
    assert run.provenance.dataset == "Amazon-Computers" and run.provenance.dataset_loader == "pyg-datasets"
    assert "no official split" in run.provenance.resolved["split"]
    assert torch.isfinite(torch.tensor(run.dense.metrics["accuracy.test"]))
