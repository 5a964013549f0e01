"""The audit's findings, each as a test that failed on the old code: samples are uniform, intervals use the
requested resamples without duplicating points, clustering scores report k-means' own spread, MAD counts
over-smoothed nodes, training FLOPs are measured beside the convention."""

from __future__ import annotations

import numpy as np
import pytest

from gnneval.builtin.metrics.embedding_quality import MAD, Clustering
from gnneval.builtin.metrics.similarity import RbfCKA, _cka_from_grams, _rbf_gram, subsampling_interval
from gnneval.plugin import GraphArrays, MetricInputs, VariantOutputs


def _inputs(
    x: np.ndarray,
    y: np.ndarray,
    dense: np.ndarray | None = None,
    edges: np.ndarray | None = None,
    bootstrap: int = 40,
    seed: int = 0,
) -> MetricInputs:
    n = x.shape[0]
    masks = {"train": np.arange(n) % 3 == 0, "val": np.arange(n) % 3 == 1, "test": np.arange(n) % 3 == 2}
    graph = GraphArrays(
        "t",
        "node-classification",
        y,
        masks,
        edges if edges is not None else np.zeros((2, 0), int),
        int(y.max()) + 1,
        x.shape[1],
    )
    out = VariantOutputs(np.zeros((n, 2), np.float32), np.zeros(n, np.int64), {"l": x})
    dense_out = VariantOutputs(out.logits, out.predictions, {"l": dense if dense is not None else x})
    return MetricInputs(graph, out, dense_out, seed, "l", x, dense if dense is not None else x, bootstrap=bootstrap)


def test_rbf_cka_samples_uniformly_over_all_nodes():
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 8)).astype(np.float32)
    captured = {}
    real = np.random.default_rng

    class Spy:
        def __init__(self, seed):
            self.rng = real(seed)

        def choice(self, n_, m, replace):
            idx = self.rng.choice(n_, m, replace=replace)
            captured.setdefault("idx", idx)
            return idx

        def __getattr__(self, name):
            return getattr(self.rng, name)

    import gnneval.builtin.metrics.similarity as sim

    orig = sim.np.random.default_rng
    sim.np.random.default_rng = Spy
    try:
        out = RbfCKA().compute(_inputs(x, np.zeros(n, int), x + 0.01))
    finally:
        sim.np.random.default_rng = orig
    idx = captured["idx"]
    assert out["sample"] == 500 and len(set(idx)) == 500
    assert idx.max() > 2500 and np.mean(idx) > 1000  # not the 500 lowest-numbered nodes
    test_nodes = np.arange(n)[np.arange(n) % 3 == 2]
    assert np.isin(idx, test_nodes).any()
    assert out["interval_resamples"] == 40 and out["sample_seed"] == 31


def test_rbf_cka_interval_uses_the_requested_resamples_and_covers_the_value():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6))
    y = x @ rng.normal(size=(6, 6)) + 0.8 * rng.normal(size=(300, 6))
    k, l = _rbf_gram(x, 1.0), _rbf_gram(y, 1.0)
    value = _cka_from_grams(k, l)
    lo, hi = subsampling_interval(k, l, value, 60, 0)
    assert lo <= value <= hi and hi - lo > 0
    # a bootstrap with replacement duplicates nodes and is biased upward on the same data
    boots = []
    for _ in range(60):
        r = rng.integers(0, 300, 300)
        boots.append(_cka_from_grams(k[np.ix_(r, r)], l[np.ix_(r, r)]))
    assert np.mean(boots) > value


def test_clustering_reports_k_means_own_spread():
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    rng = np.random.default_rng(2)
    y = rng.integers(0, 5, 600)
    x = (rng.normal(size=(600, 16)) + 0.8 * np.eye(16)[y]).astype(np.float32)
    out = Clustering(seeds=5, n_init=5).compute(_inputs(x, y))
    direct = [
        normalized_mutual_info_score(y, KMeans(5, random_state=s, n_init=5).fit_predict(x.astype(np.float64)))
        for s in range(5)
    ]
    assert out["seeds"] == 5
    assert abs(out["nmi"] - np.mean(direct)) < 1e-12 and abs(out["nmi_sd"] - np.std(direct, ddof=1)) < 1e-12


def test_mad_counts_over_smoothed_nodes():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], np.float32)
    edges = np.array([[0, 1, 2, 3, 0], [1, 0, 3, 2, 2]])  # 0-1 and 2-3 identical; 0 -> 2 differs
    out = MAD().compute(_inputs(x, np.array([0, 0, 1, 1]), edges=edges))
    # node 0: neighbours 1 (distance 0) and 2 (distance 1): 1 non-zero -> 1.0; nodes 1, 2, 3: 0 -> mean 0.25
    assert abs(out["neighbours"] - 0.25) < 1e-9


def test_training_flops_are_measured_beside_the_convention(gnneval_graph, gnneval_model):
    import copy

    from gnneval.plugin.helpers import count_flops, train

    result = train(copy.deepcopy(gnneval_model), gnneval_graph, epochs=2, patience=5)
    forward, _ = count_flops(gnneval_model, gnneval_graph)
    assert result.measured_step_flops > 0
    assert result.flops == 3 * forward * result.epochs  # the convention, unchanged
    assert result.measured_step_flops < 3 * forward  # a real step is cheaper than three forward passes here


def test_paper_table_spread_is_the_sample_std_or_says_n_1():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "paper_table", Path(__file__).resolve().parents[1] / "benchmarks" / "paper_table.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod._spread([80.0, 81.0, 82.0]) == " ± 1.0"  # ddof=1; the population std would be 0.8
    assert mod._spread([80.0]) == " (n=1)"


def test_lottery_rewinds_to_exactly_epoch_k_of_the_first_training(gnneval_graph, gnneval_model):
    import copy

    import torch

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.plugin import PruneContext
    from gnneval.plugin.helpers import reinitialise, train

    lottery = build_plugin_host().registry.get("pruner", "lottery").obj
    model = copy.deepcopy(gnneval_model)
    loaded = []
    original = model.load_state_dict

    def recording(state, *args, **kwargs):
        loaded.append({k: v.clone() for k, v in state.items()})
        return original(state, *args, **kwargs)

    model.load_state_dict = recording
    lottery(rate=0.5, epochs=20, patience=20, rewind_epoch=2).prune(model, 0.5, PruneContext(gnneval_graph, "gcn", 5))
    twin = copy.deepcopy(gnneval_model)
    reinitialise(twin, 5)
    kept = {}
    train(
        twin,
        gnneval_graph,
        epochs=2,
        patience=5,
        seed=5,
        on_epoch=lambda e, m: kept.update({e: copy.deepcopy(m.state_dict())}),
    )
    rewinds = [s for s in loaded if all(torch.equal(s[k], kept[2][k]) for k in s)]
    assert rewinds, "the rounds did not rewind to the weights after epoch 2 of the first training"


@pytest.mark.slow
def test_taylor_channels_beat_random_channels_on_the_zoo_gcn(shared_datasets):
    """Iterative Taylor (training minibatches, dropout on, re-scored every 5%) keeps better channels than
    chance on the committed zoo GCN at 30/50/70%: above the mean of five seeded random rankings."""
    import copy
    from pathlib import Path

    import torch

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.load.inputs import LoadSettings, load_for_evaluation
    from gnneval.plugin import PruneContext

    host = build_plugin_host()
    zoo = Path(__file__).resolve().parents[1] / "zoo" / "gcn_cora.pt"
    loaded = load_for_evaluation(LoadSettings(zoo, data_root=str(shared_datasets)), host.registry)
    model, graph, d = loaded.ckpt.model, loaded.graph, loaded.graph.data
    cls = host.registry.get("pruner", "structured").obj

    def accuracy(criterion, sparsity, seed=0):
        pruned = (
            cls(criterion=criterion)
            .prune(copy.deepcopy(model), sparsity, PruneContext(graph, "gcn", seed=seed))
            .model.eval()
        )
        with torch.no_grad():
            pred = pruned(d.x, d.edge_index).argmax(1)
        return float((pred[d.test_mask] == d.y[d.test_mask]).float().mean())

    for sparsity in (0.3, 0.5, 0.7):
        random = np.mean([accuracy("random", sparsity, seed) for seed in range(5)])
        assert accuracy("taylor", sparsity) > random, sparsity


def test_every_reported_interval_records_its_method(gnneval_run):
    """run.h5's ``/intervals`` names how every ``*_ci_low`` / ``*_sd`` figure of the run was made."""
    from gnneval.measure.metrics import UNCERTAINTY_SUFFIXES

    keys = set()
    for v in gnneval_run.variants:
        keys.update(v.metrics)
        for values in v.layer_metrics.values():
            keys.update(values)
    uncertain = {k[: -len(s)] for k in keys for s in UNCERTAINTY_SUFFIXES if k.endswith(s)}
    assert uncertain, "the default metrics report intervals"
    for base in uncertain:
        assert len(gnneval_run.intervals.get(base, "")) > 20, base
    assert "bootstrap" in gnneval_run.intervals["knn-overlap.dense"]
    assert "order statistics" in gnneval_run.intervals["bench.speedup"]


def test_an_interval_without_its_method_is_reported_by_name():
    from gnneval.measure.metrics import MetricSettings, compute_metric
    from gnneval.plugin import Metric

    class Sloppy(Metric):
        name = "sloppy"

        def compute(self, inputs):
            return {"x": 0.5, "x_ci_low": 0.4, "x_ci_high": 0.6}

    x = np.zeros((6, 2), np.float32)
    inputs = _inputs(x, np.arange(6) % 2)
    from gnneval.core.problems import collecting

    with collecting() as problems:
        values, _ = compute_metric(
            Sloppy(), inputs.graph, inputs.variant, inputs.dense, MetricSettings(0, 100, 10, 60), "sloppy on v"
        )
    assert values["sloppy.x_ci_low"] == 0.4
    assert any("'x'" in p.message and "intervals" in p.message and "sloppy" in p.where for p in problems)


def test_linear_probe_scores_the_test_split_a_chunk_at_a_time(monkeypatch):
    """The probe predicts the test nodes a chunk of rows at a time (ogbn-products' test split is 2.2M nodes: a
    scaled copy of all of them at once was 1.1 GiB) and scores exactly what one whole prediction scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from gnneval.builtin.metrics.embedding_quality import LinearProbe
    from gnneval.measure import numeric

    rng = np.random.default_rng(3)
    y = (np.arange(300) // 7) % 3
    x = (rng.standard_normal((300, 5)) + y[:, None]).astype(np.float32)
    inputs = _inputs(x, y)
    tr, te = inputs.graph.masks["train"], inputs.graph.masks["test"]
    scaler = StandardScaler().fit(x[tr])
    clf = LogisticRegression(max_iter=2000, random_state=0).fit(scaler.transform(x[tr]), y[tr])
    whole = float((clf.predict(scaler.transform(x[te])) == y[te]).mean())
    monkeypatch.setattr(numeric, "ROW_CHUNK", 7)
    assert 0.5 < whole < 1.0 and LinearProbe().compute(inputs)["test"] == whole
