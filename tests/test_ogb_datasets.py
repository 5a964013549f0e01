"""OGB datasets from folders written here in OGB's own on-disk layout (``raw/*.csv.gz``, ``split/<type>/``,
``RELEASE_v1.txt``; names OGB's ``master.csv`` lists), never downloading: the official split is the one used, and
the official Evaluator's measure is the run's headline, equal to OGB's Evaluator called by hand."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

pytest.importorskip("ogb")

from gnneval.cli import main  # noqa: E402
from gnneval.plugin import DatasetContext, DatasetRef  # noqa: E402
from gnneval.store.hdf5 import read_run  # noqa: E402
from gnneval.testing import plugin_host  # noqa: E402


def _csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        for row in rows:
            f.write(",".join(str(v) for v in np.atleast_1d(row)) + "\n")


def _arxiv(root, n=120, f=8, classes=40):
    """``ogbn_arxiv/``: a small graph in ogbn-arxiv's files (node years, a time split)."""
    rng = np.random.default_rng(0)
    d = root / "ogbn_arxiv"
    edges = rng.integers(0, n, (300, 2))
    y = rng.integers(0, 5, n)  # a few of the 40 classes
    feat = rng.normal(size=(n, f)) + np.eye(5)[y] @ rng.normal(size=(5, f)) * 2
    _csv(d / "raw" / "edge.csv.gz", edges)
    _csv(d / "raw" / "node-feat.csv.gz", feat.round(5))
    _csv(d / "raw" / "node-label.csv.gz", y)
    _csv(d / "raw" / "node_year.csv.gz", rng.integers(2010, 2020, n))
    _csv(d / "raw" / "num-node-list.csv.gz", [n])
    _csv(d / "raw" / "num-edge-list.csv.gz", [len(edges)])
    order = rng.permutation(n)
    parts = {"train": order[:60], "valid": order[60:80], "test": order[80:]}
    for name, idx in parts.items():
        _csv(d / "split" / "time" / f"{name}.csv.gz", np.sort(idx))
    (d / "RELEASE_v1.txt").write_text("fixture")
    return y, parts


def test_ogbn_arxiv_official_split_and_evaluator(tmp_path):
    from gnneval.load.datasets import load_dataset

    root = tmp_path / "data"
    y, parts = _arxiv(root)
    graph, loader = load_dataset(plugin_host().registry, DatasetRef("ogbn-arxiv"),
                                 DatasetContext(root=root, cache_dir=tmp_path / "cache", seed=0))  # fmt: skip
    assert loader == "ogb" and graph.evaluator == "ogbn-arxiv" and graph.task == "node-classification"
    assert graph.split.startswith("the official OGB split (time); headline: OGB Evaluator 'acc'")
    assert sorted(np.flatnonzero(graph.data.test_mask.numpy())) == sorted(parts["test"])
    assert graph.data.y.tolist() == y.tolist() and graph.num_classes == 40
    assert not (root / "ogbn_arxiv" / "processed").exists()  # the user's folder untouched


@pytest.mark.slow
def test_the_headline_is_ogbs_evaluator(tmp_path, capsys):
    import torch
    from ogb.nodeproppred import Evaluator

    from gnneval.load.datasets import load_dataset
    from gnneval.store.checkpoints import save_checkpoint
    from gnneval.testing import small_model

    root = tmp_path / "data"
    _arxiv(root)
    graph, _ = load_dataset(plugin_host().registry, DatasetRef("ogbn-arxiv"),
                            DatasetContext(root=root, cache_dir=tmp_path / "c", seed=0))  # fmt: skip
    model = small_model(graph, epochs=40)
    ckpt = save_checkpoint(tmp_path / "gcn.pt", model=model, architecture="gcn",
                           architecture_kwargs={"in_channels": 8, "hidden_channels": 32, "out_channels": 40,
                                                "num_layers": 2}, task="node-classification",
                           dataset=DatasetRef("ogbn-arxiv"), metrics={}, training={})  # fmt: skip
    out = tmp_path / "run"
    assert main(["evaluate", str(ckpt), "--data-root", str(root), "--pruner", "magnitude", "--sparsity", "0.5",
                 "--no-bench", "--no-progress", "--visualisers", "curves", "--out", str(out),
                 "--metrics", "accuracy,ogb-evaluator"]) == 0  # fmt: skip
    run = read_run(out)
    assert run.headline.key == "ogb-evaluator.test" and run.graph.evaluator == "ogbn-arxiv"
    with torch.no_grad():
        pred = model.eval()(graph.data.x, graph.data.edge_index).argmax(-1)
    test = graph.data.test_mask
    by_hand = Evaluator("ogbn-arxiv").eval({"y_true": graph.data.y[test].view(-1, 1), "y_pred": pred[test].view(-1, 1)})
    assert run.dense.metrics["ogb-evaluator.test"] == pytest.approx(by_hand["acc"])
    assert run.dense.metrics["ogb-evaluator.test_n"] == 40
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    assert "test (OGB)" in capsys.readouterr().out


def test_the_evaluator_metric_needs_a_dataset_that_names_one(tmp_path):
    """On a dataset without an official evaluator the metric does not apply, and accuracy stays the headline."""
    from gnneval.measure.metrics import declared_columns
    from gnneval.testing import small_graph

    reg = plugin_host().registry
    arrays = small_graph().arrays()
    cols = declared_columns(reg, ["accuracy", "ogb-evaluator"], "node-classification", arrays)
    assert next(c for c in cols if c.role == "headline").key == "accuracy.test"
    arrays.evaluator = "ogbn-arxiv"
    cols = declared_columns(reg, ["accuracy", "ogb-evaluator"], "node-classification", arrays)
    assert next(c for c in cols if c.role == "headline").key == "ogb-evaluator.test"


def _molhiv(root, graphs=40):
    """``ogbg_molhiv/``: small molecules in ogbg-molhiv's files (integer atom and bond features, a scaffold split)."""
    rng = np.random.default_rng(1)
    d = root / "ogbg_molhiv"
    edges, nodes, n_edges, feats, efeats = [], [], [], [], []
    for _ in range(graphs):
        size = int(rng.integers(4, 8))
        local = [(i, i + 1) for i in range(size - 1)]
        edges += local
        nodes.append(size)
        n_edges.append(len(local))
        feats += rng.integers(0, 5, (size, 9)).tolist()
        efeats += rng.integers(0, 3, (len(local), 3)).tolist()
    _csv(d / "raw" / "edge.csv.gz", edges)
    _csv(d / "raw" / "num-node-list.csv.gz", nodes)
    _csv(d / "raw" / "num-edge-list.csv.gz", n_edges)
    _csv(d / "raw" / "node-feat.csv.gz", feats)
    _csv(d / "raw" / "edge-feat.csv.gz", efeats)
    _csv(d / "raw" / "graph-label.csv.gz", [g % 2 for g in range(graphs)])
    order = rng.permutation(graphs)
    for name, idx in (("train", order[:24]), ("valid", order[24:32]), ("test", order[32:])):
        _csv(d / "split" / "scaffold" / f"{name}.csv.gz", np.sort(idx))
    (d / "RELEASE_v1.txt").write_text("fixture")
    return order[32:]


def test_ogbg_molhiv_split_and_rocauc_by_ogbs_evaluator(tmp_path):
    from ogb.graphproppred import Evaluator

    from gnneval.builtin.metrics.ogb_evaluator import OgbEvaluator
    from gnneval.core.records import VariantOutputs
    from gnneval.load.datasets import load_dataset
    from gnneval.plugin import MetricInputs

    root = tmp_path / "data"
    test_graphs = _molhiv(root)
    graph, _ = load_dataset(plugin_host().registry, DatasetRef("ogbg-molhiv", options={"task": "graph-classification"}),
                            DatasetContext(root=root, cache_dir=tmp_path / "cache", seed=0))  # fmt: skip
    assert graph.task == "graph-classification" and graph.evaluator == "ogbg-molhiv"
    assert "headline: OGB Evaluator 'rocauc'" in graph.split
    assert graph.data.x.dtype.is_floating_point is False  # atom types stay integers (an AtomEncoder embeds them)
    assert sorted(np.flatnonzero(graph.data.test_mask.numpy())) == sorted(test_graphs)
    arrays = graph.arrays()
    logits = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    out = VariantOutputs(logits=logits, predictions=logits.argmax(1), embeddings={})
    vals = OgbEvaluator().compute(MetricInputs(graph=arrays, variant=out, dense=None, seed=0))
    p1 = np.exp(logits)[:, 1] / np.exp(logits).sum(1)
    test = arrays.masks["test"]
    by_hand = Evaluator("ogbg-molhiv").eval({"y_true": arrays.y[test][:, None], "y_pred": p1[test][:, None]})
    assert vals["test"] == pytest.approx(by_hand["rocauc"]) and vals["test_n"] == 8
