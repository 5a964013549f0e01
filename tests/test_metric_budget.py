"""--metric-nodes: metrics linear in the graph's size (probes, k-means, sums over edges) use a seeded sample of
at most that many nodes on a larger graph, store its size beside the value, and estimate the whole graph's
value (here: within a few per cent); at or below the budget they use every node, as before."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gnneval.builtin.metrics.embedding_quality import (
    MAD,
    AlignmentUniformity,
    Clustering,
    DirichletEnergy,
    KnnAccuracy,
    LinearProbe,
)
from gnneval.core.contract import MetricInputs
from gnneval.core.records import GraphArrays, VariantOutputs


def _inputs(n: int = 4000, budget: int = 100_000) -> MetricInputs:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n)
    x = (np.eye(4)[y] * 2 + rng.normal(size=(n, 4))).astype(np.float32)
    src, dst = rng.integers(0, n, 20 * n), rng.integers(0, n, 20 * n)
    masks = {"train": np.arange(n) % 5 < 3, "val": np.arange(n) % 5 == 3, "test": np.arange(n) % 5 == 4}
    graph = GraphArrays("t", "node-classification", y, masks, np.stack([src, dst]), 4, 4)
    out = VariantOutputs(np.zeros((n, 4), np.float32), np.zeros(n, np.int64), {"l": x})
    return MetricInputs(graph, out, None, 0, "l", x, None, bootstrap=20, node_budget=budget)


def test_capped_is_seeded_sorted_and_whole_below_the_budget():
    inputs = _inputs()
    assert np.array_equal(inputs.capped(np.arange(4000)), np.arange(4000))
    small = replace(inputs, node_budget=500)
    a, b = small.capped(np.arange(4000)), small.capped(np.arange(4000))
    assert a.size == 500 and np.array_equal(a, b) and np.all(np.diff(a) > 0)
    edges, nodes = small.capped_edges()
    assert nodes == 500 and set(np.unique(edges[0])) <= set(a)
    assert edges.shape[1] == int(np.isin(inputs.graph.edge_index[0], a).sum())  # every edge of those sources


@pytest.mark.parametrize("metric,key,tol", [(DirichletEnergy(), "energy", 0.05), (MAD(), "neighbours", 0.05),
                                            (AlignmentUniformity(), "alignment", 0.05),
                                            (LinearProbe(), "test", 0.05)])  # fmt: skip
def test_a_sample_estimates_the_whole_graph_and_says_its_size(metric, key, tol):
    whole = metric.compute(_inputs())
    part = metric.compute(_inputs(budget=1500))
    assert abs(part[key] - whole[key]) <= tol * abs(whole[key]), (key, part[key], whole[key])
    assert any(k.endswith("sample") and v == 1500 for k, v in part.items()), part
    assert not any(v == 1500 for k, v in whole.items() if k.endswith("sample"))


def test_knn_and_kmeans_state_their_samples():
    knn = KnnAccuracy(max_nodes=300).compute(_inputs())
    assert knn["train_sample"] == 300 and knn["test_sample"] == 300 and 0.5 < knn["test"] <= 1.0
    km = Clustering(seeds=2, n_init=1).compute(_inputs(budget=1000))
    assert km["sample"] == 1000 and km["nmi"] > 0.2


def test_o_n_d2_measures_in_chunks_equal_one_piece(monkeypatch):
    """Linear CKA and Procrustes sum their Gram matrices a chunk of rows at a time on a large layer (no float64
    copy of it): the value equals the one-piece value to rounding."""
    import gnneval.measure.numeric as numeric
    from gnneval.builtin.metrics.similarity import linear_cka, procrustes_distance

    rng = np.random.default_rng(1)
    x = rng.normal(size=(1000, 16)).astype(np.float32) + 3.0
    y = (x[:, :12] @ rng.normal(size=(12, 12)) + 0.1 * rng.normal(size=(1000, 12))).astype(np.float32)
    whole = linear_cka(x, y), procrustes_distance(x, y), procrustes_distance(x, x)
    monkeypatch.setattr(numeric, "ROW_CHUNK", 128)
    assert len(numeric.row_chunks(1000)) == 8
    parts = linear_cka(x, y), procrustes_distance(x, y), procrustes_distance(x, x)
    assert np.allclose(parts, whole, rtol=1e-10, atol=1e-12), (parts, whole)
    assert parts[2] < 1e-6  # a layer against itself: 0 to rounding, in chunks too
