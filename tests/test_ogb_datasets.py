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


def _citation2(root, n=60, f=6, k=5):
    """``ogbl_citation2/``: a small citation graph in ogbl-citation2's files, with its MRR split (each validation
    and test source's true target and ``k`` negatives, as ``split/time/*.pt``)."""
    import torch

    rng = np.random.default_rng(0)
    d = root / "ogbl_citation2"
    edges = rng.integers(0, n, (200, 2))
    _csv(d / "raw" / "edge.csv.gz", edges)
    _csv(d / "raw" / "node-feat.csv.gz", rng.normal(size=(n, f)).round(5))
    _csv(d / "raw" / "node_year.csv.gz", rng.integers(2010, 2020, n))
    _csv(d / "raw" / "num-node-list.csv.gz", [n])
    _csv(d / "raw" / "num-edge-list.csv.gz", [len(edges)])
    (d / "split" / "time").mkdir(parents=True)
    parts = {}
    for name, m in (("train", 30), ("valid", 8), ("test", 10)):
        part = {
            "source_node": torch.as_tensor(rng.integers(0, n, m)),
            "target_node": torch.as_tensor(rng.integers(0, n, m)),
        }
        if name != "train":
            part["target_node_neg"] = torch.as_tensor(rng.integers(0, n, (m, k)))
        torch.save(part, d / "split" / "time" / f"{name}.pt")
        parts[name] = part
    (d / "RELEASE_v1.txt").write_text("fixture")
    return parts


def test_ogbl_citation2_ranks_each_positive_against_its_own_negatives(tmp_path):
    """MRR as OGB defines it: each test source's true target ranked against its own 1000 (here 5) negatives."""
    import torch
    from ogb.linkproppred import Evaluator

    from gnneval.builtin.metrics.ogb_evaluator import OgbEvaluator
    from gnneval.core.records import VariantOutputs
    from gnneval.load.datasets import load_dataset
    from gnneval.plugin import MetricInputs

    root = tmp_path / "data"
    parts = _citation2(root)
    graph, _ = load_dataset(plugin_host().registry, DatasetRef("ogbl-citation2"),
                            DatasetContext(root=root, cache_dir=tmp_path / "cache", seed=0))  # fmt: skip
    assert graph.task == "link-prediction" and graph.link_negatives == 5 and "'mrr'" in graph.split
    arrays = graph.arrays()
    index, label = arrays.link["test"]
    test = parts["test"]
    assert index.shape[1] == 10 * (1 + 5) and label[:10].all() and not label[10:].any()
    assert index[0, 10 + 5 * 3 : 10 + 5 * 4].tolist() == [int(test["source_node"][3])] * 5  # positive 3's negatives
    assert index[1, 10 + 5 * 3 : 10 + 5 * 4].tolist() == test["target_node_neg"][3].tolist()
    z = np.random.default_rng(1).normal(size=(60, 4)).astype(np.float32)
    out = VariantOutputs(logits=z, predictions=np.zeros(60, np.int64), embeddings={})
    vals = OgbEvaluator().compute(MetricInputs(graph=arrays, variant=out, dense=None, seed=0))
    zz = torch.from_numpy(z.astype(np.float64))
    pos = (zz[test["source_node"]] * zz[test["target_node"]]).sum(1)
    neg = (zz[test["source_node"]][:, None, :] * zz[test["target_node_neg"]]).sum(2)
    by_hand = Evaluator("ogbl-citation2").eval({"y_pred_pos": pos, "y_pred_neg": neg})["mrr_list"].mean()
    assert vals["test"] == pytest.approx(float(by_hand))


def test_ogbl_collab_pools_its_negatives_for_hits_at_50(tmp_path):
    import torch
    from ogb.linkproppred import Evaluator

    from gnneval.builtin.metrics.ogb_evaluator import OgbEvaluator
    from gnneval.core.records import VariantOutputs
    from gnneval.load.datasets import load_dataset
    from gnneval.plugin import MetricInputs

    rng = np.random.default_rng(0)
    root, n = tmp_path / "data", 80
    d = root / "ogbl_collab"
    edges = rng.integers(0, n, (150, 2))
    _csv(d / "raw" / "edge.csv.gz", edges)
    _csv(d / "raw" / "node-feat.csv.gz", rng.normal(size=(n, 5)).round(5))
    _csv(d / "raw" / "edge_weight.csv.gz", np.ones(len(edges), int))
    _csv(d / "raw" / "edge_year.csv.gz", rng.integers(2000, 2019, len(edges)))
    _csv(d / "raw" / "num-node-list.csv.gz", [n])
    _csv(d / "raw" / "num-edge-list.csv.gz", [len(edges)])
    (d / "split" / "time").mkdir(parents=True)
    test = {}
    for name, m in (("train", 40), ("valid", 60), ("test", 60)):
        part = {"edge": torch.as_tensor(rng.integers(0, n, (m, 2)))}
        if name != "train":
            part["edge_neg"] = torch.as_tensor(rng.integers(0, n, (3 * m, 2)))
        torch.save(part, d / "split" / "time" / f"{name}.pt")
        test = part
    (d / "RELEASE_v1.txt").write_text("fixture")
    graph, _ = load_dataset(plugin_host().registry, DatasetRef("ogbl-collab"),
                            DatasetContext(root=root, cache_dir=tmp_path / "cache", seed=0))  # fmt: skip
    assert graph.link_negatives == 0 and "'hits@50'" in graph.split
    z = np.random.default_rng(1).normal(size=(n, 4)).astype(np.float32)
    out = VariantOutputs(logits=z, predictions=np.zeros(n, np.int64), embeddings={})
    vals = OgbEvaluator().compute(MetricInputs(graph=graph.arrays(), variant=out, dense=None, seed=0))
    zz = torch.from_numpy(z.astype(np.float64))
    pos = (zz[test["edge"][:, 0]] * zz[test["edge"][:, 1]]).sum(1)
    neg = (zz[test["edge_neg"][:, 0]] * zz[test["edge_neg"][:, 1]]).sum(1)
    assert vals["test"] == pytest.approx(
        Evaluator("ogbl-collab").eval({"y_pred_pos": pos, "y_pred_neg": neg})["hits@50"]
    )
