"""Defining properties of every representation metric, and the metrics inside `evaluate`."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from gnneval._plugins.manager import build_plugin_host
from gnneval.builtin.metrics.embedding_quality import dirichlet_energy, effective_rank
from gnneval.builtin.metrics.similarity import knn_jaccard, linear_cka, procrustes_distance, rbf_cka
from gnneval.builtin.metrics.task import degree_bucket_labels
from gnneval.plugin import GraphArrays, MetricInputs, VariantOutputs

RNG = np.random.default_rng(0)
X = RNG.standard_normal((300, 16))


def test_linear_cka_invariances():
    q = ortho_group.rvs(16, random_state=1)
    assert linear_cka(X, X) == pytest.approx(1.0)
    assert linear_cka(X, 3.7 * X @ q + 5.0) == pytest.approx(1.0)
    narrower = X[:, :6]  # a structured-pruned layer is narrower
    assert 0.0 < linear_cka(X, narrower) < 1.0
    assert linear_cka(X, np.ones_like(X)) == 0.0


def test_rbf_cka_of_a_rotated_copy_is_one():
    q = ortho_group.rvs(16, random_state=2)
    assert rbf_cka(X[:200], X[:200]) == pytest.approx(1.0)
    assert rbf_cka(X[:200], 2.0 * X[:200] @ q) == pytest.approx(1.0, abs=1e-9)


def test_procrustes_distance():
    q = ortho_group.rvs(16, random_state=3)
    assert procrustes_distance(X, 0.3 * X @ q + 2.0) == pytest.approx(0.0, abs=1e-6)
    other = RNG.standard_normal((300, 4))
    d = procrustes_distance(X, other)
    assert 0.0 < d <= np.sqrt(2) + 1e-12
    assert procrustes_distance(X, X[:, :5]) < np.sqrt(2)


def test_effective_rank():
    u, v = RNG.standard_normal((50, 1)), RNG.standard_normal((1, 8))
    assert effective_rank(u @ v, centre=False) == pytest.approx(1.0)
    assert effective_rank(np.eye(12), centre=False) == pytest.approx(12.0)
    assert effective_rank(np.zeros((5, 3)), centre=True) == 0.0


def test_dirichlet_energy():
    ei = np.array([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    const = np.ones((4, 5))
    assert dirichlet_energy(const, ei) == 0.0
    x = RNG.standard_normal((4, 5))
    assert dirichlet_energy(2 * x, ei) == pytest.approx(4 * dirichlet_energy(x, ei))
    by_hand = sum(np.sum((x[i] - x[j]) ** 2) for i, j in ei.T) / 4
    assert dirichlet_energy(x, ei) == pytest.approx(by_hand)


def test_knn_overlap_with_itself_is_one():
    assert knn_jaccard(X, X).mean() == pytest.approx(1.0)
    q = ortho_group.rvs(16, random_state=4)
    assert knn_jaccard(X, 5 * X @ q).mean() == pytest.approx(1.0)  # cosine neighbours survive rotation
    assert knn_jaccard(X, RNG.standard_normal((300, 16))).mean() < 0.2


def test_degree_buckets():
    labels = degree_bucket_labels(np.array([0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 33, 100]))
    assert list(labels) == ["0", "1", "2", "3-4", "3-4", "5-8", "5-8", "9-16", "9-16", "17-32", "33+", "33+"]


def _inputs(emb, dense_emb=None, y=None, edges=None, sample=2000):
    n = emb.shape[0]
    y = y if y is not None else np.arange(n) % 3
    masks = {"train": np.arange(n) % 5 == 0, "val": np.arange(n) % 5 == 1, "test": np.arange(n) % 5 >= 2}
    edges = edges if edges is not None else np.stack([np.arange(n), (np.arange(n) + 1) % n])
    graph = GraphArrays("t", "node-classification", y, masks, edges, 3, emb.shape[1])
    out = VariantOutputs(logits=np.eye(3)[y], predictions=y, embeddings={"l": emb})
    dense = VariantOutputs(np.eye(3)[y], y, {"l": dense_emb}) if dense_emb is not None else None
    return MetricInputs(graph, out, dense, 0, "l", emb, dense_emb, sample, 100)


def test_metric_plugins_on_separable_and_constant_embeddings():
    reg = build_plugin_host().registry
    y = np.arange(300) % 3
    separable = np.eye(3)[y] * 10 + 0.01 * RNG.standard_normal((300, 3))
    probe = reg.get("metric", "linear-probe").obj().compute(_inputs(separable, y=y))
    assert probe["test"] == 1.0
    assert reg.get("metric", "knn-accuracy").obj().compute(_inputs(separable, y=y))["test"] == 1.0
    clus = reg.get("metric", "clustering").obj().compute(_inputs(separable, y=y))
    assert clus["nmi"] == pytest.approx(1.0) and clus["ari"] == pytest.approx(1.0)
    sil = reg.get("metric", "silhouette").obj().compute(_inputs(separable, y=y, sample=100))
    assert sil["score"] > 0.9 and sil["score_ci_low"] <= sil["score"] <= sil["score_ci_high"] and sil["sample"] == 100
    const = np.ones((300, 4))
    mad = reg.get("metric", "mad").obj().compute(_inputs(const))
    assert mad["neighbours"] == 0.0 and mad["global"] == 0.0
    au = reg.get("metric", "alignment-uniformity").obj().compute(_inputs(const))
    assert au["alignment"] == pytest.approx(0.0) and au["uniformity"] == pytest.approx(0.0)
    spread = reg.get("metric", "alignment-uniformity").obj().compute(_inputs(X))
    assert spread["uniformity"] < -1.0 and spread["alignment"] > 0.5


def test_similarity_plugins_handle_a_narrower_pruned_layer():
    reg = build_plugin_host().registry
    for name in ("linear-cka", "rbf-cka", "procrustes", "knn-overlap"):
        vals = reg.get("metric", name).obj().compute(_inputs(X[:, :5], dense_emb=X, sample=150))
        assert all(np.isfinite(v) for v in vals.values()), (name, vals)
    same = reg.get("metric", "knn-overlap").obj().compute(_inputs(X, dense_emb=X, sample=150))
    assert same["dense"] == pytest.approx(1.0) and same["sample"] == 150


def test_node_sample_is_shared_and_seeded():
    a = _inputs(X, sample=50).node_sample()
    b = _inputs(2 * X, sample=50).node_sample()
    assert len(a) == 50 and np.array_equal(a, b) and np.all(np.diff(a) > 0)


def test_evaluate_stores_metrics_and_flipped_nodes(sbm_checkpoint, tmp_path):
    import h5py

    from gnneval.cli import main
    from gnneval.store.hdf5 import read_run

    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "structured",
                "--sparsity",
                "0.7",
                "--out",
                str(out),
                "--no-progress",
                "--no-bench",
                "--visualisers",
                "curves",
                "--metric-sample",
                "200",
                "--metrics",
                "accuracy,per-class,degree-accuracy,linear-probe,procrustes,broken-name",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "structured",
                "--sparsity",
                "0.7",
                "--out",
                str(out),
                "--no-progress",
                "--no-bench",
                "--visualisers",
                "curves",
                "--metric-sample",
                "200",
                "--metrics",
                "accuracy,per-class,degree-accuracy,linear-probe,procrustes,silhouette",
            ]
        )
        == 0
    )
    run = read_run(out)
    v = run.variant("structured@0.70")
    assert {"per-class.class_0", "accuracy.test"} <= set(v.metrics)
    assert any(k.startswith("degree-accuracy.deg_") for k in v.metrics)
    assert "macro-f1.test" not in v.metrics  # only the chosen subset ran
    layer = v.layer_metrics["convs.0"]
    assert {"linear-probe.test", "procrustes.dense", "silhouette.score", "silhouette.score_ci_low"} <= set(layer)
    assert layer["silhouette.sample"] == 200
    assert "procrustes.dense" not in run.dense.layer_metrics["convs.0"]  # needs_dense: skipped on dense
    with h5py.File(out / "run.h5") as f:
        flipped = f["variants/structured@0.70/flipped_nodes"][()]
    np.testing.assert_array_equal(flipped, np.flatnonzero(v.outputs.predictions != run.dense.outputs.predictions))
    assert run.provenance.settings["metric_sample"] == 200


def test_link_prediction_metric_matches_sklearn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    z = RNG.standard_normal((40, 4))
    index = RNG.integers(0, 40, (2, 60))
    label = (RNG.random(60) < 0.5).astype(np.int64)
    graph = GraphArrays(
        "t",
        "link-prediction",
        np.zeros(40, dtype=np.int64),
        {"test": np.ones(40, bool)},
        index,
        1,
        4,
        link={"test": (index, label)},
    )
    out = VariantOutputs(z, z.argmax(1), {"l": z})
    reg = build_plugin_host().registry
    vals = reg.get("metric", "link-prediction").obj().compute(MetricInputs(graph, out, out, 0))
    scores = (z[index[0]] * z[index[1]]).sum(1)
    assert vals["test_auc"] == pytest.approx(roc_auc_score(label, scores))
    assert vals["test_ap"] == pytest.approx(average_precision_score(label, scores))
    assert vals["test_agreement"] == 1.0


@pytest.mark.slow
def test_evaluate_a_link_prediction_model(tmp_path):
    from conftest import train_sbm_link_checkpoint

    from gnneval.cli import main
    from gnneval.store.hdf5 import read_run

    ckpt = train_sbm_link_checkpoint(tmp_path / "link.pt")
    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(ckpt),
                "--pruner",
                "structured,magnitude",
                "--sparsity",
                "0.5",
                "--out",
                str(out),
                "--no-progress",
                "--no-bench",
                "--metric-sample",
                "200",
            ]
        )
        == 0
    )
    run = read_run(out)
    assert run.graph.task == "link-prediction" and set(run.graph.link) == {"val", "test"}
    index, label = run.graph.link["test"]
    assert index.shape[0] == 2 and set(np.unique(label)) == {0, 1}
    dense = run.dense
    assert dense.metrics["link-prediction.test_auc"] > 0.7  # random scoring gives 0.5
    assert "accuracy.test" not in dense.metrics  # node-classification metrics do not apply
    s = run.variant("structured@0.50")
    assert s.ok and "link-prediction.test_auc" in s.metrics and s.params < dense.params
    assert "linear-cka.dense" in s.layer_metrics["convs.0"]
    assert not run.problems, run.problems


def test_degree_bucket_keys_are_valid_metric_keys():
    """Every bucket's key passes the key check (``deg_33+`` was once dropped on any graph with a hub)."""
    import numpy as np

    from gnneval.builtin.metrics.task import degree_bucket_labels
    from gnneval.measure.metrics import check_values

    labels = set(degree_bucket_labels(np.array([0, 1, 2, 3, 5, 9, 17, 33, 100])))
    assert "33+" in labels
    good, bad = check_values({f"{p}deg_{b}": 0.5 for b in labels for p in ("", "n_")}, "compute()")
    assert not bad and len(good) == 2 * len(labels)
