"""Every representational-similarity measure against its definition: identity, each stated invariance (and
that the unstated ones are really not invariances), symmetry, range, a hand-computed case, narrower pruned
layers, and a cross-check against an independent formulation to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest

from gnneval.builtin.metrics.repsim import LAYER_MEASURES
from gnneval.builtin.metrics.repsim.base import INVARIANCES
from gnneval.builtin.metrics.repsim.cca import canonical
from gnneval.builtin.metrics.repsim.functional import js_divergence
from gnneval.builtin.metrics.repsim.neighbourhood import rank_similarity_per_node
from gnneval.builtin.metrics.repsim.rsm import distance_correlation, gulp_distance, unbiased_hsic_linear

NAMES = sorted(LAYER_MEASURES)


def _pair(n: int = 120, d: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A dense-like Y and a perturbed, partly mixed X (different enough that every measure moves)."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, d)) + 0.5
    x = y @ (np.eye(d) + 0.3 * rng.normal(size=(d, d))) + 0.4 * rng.normal(size=(n, d)) + 0.2
    return x, y


def _value(name: str, x: np.ndarray, y: np.ndarray) -> float:
    got = LAYER_MEASURES[name]().value(np.asarray(x, np.float64), np.asarray(y, np.float64))
    return float(got["dense"] if isinstance(got, dict) else got)


def _transform(kind: str, a: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    if kind == "orthogonal":
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        return a @ q
    if kind == "isotropic-scaling":
        return 3.7 * a
    if kind == "translation":
        return a + rng.normal(size=d) * 2.0
    if kind == "permutation":
        return a[:, rng.permutation(d)]
    if kind == "invertible-linear":
        return a @ (np.eye(d) + 0.8 * rng.normal(size=(d, d)))
    raise AssertionError(kind)


def _close(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


@pytest.mark.parametrize("name", NAMES)
def test_identity(name):
    x, _ = _pair()
    props = LAYER_MEASURES[name].props
    want = 1.0 if props.larger_is_similar else 0.0
    # a layer compared with itself: exactly the identity value up to rounding at the data's own scale (the
    # closed forms that cancel there are computed from the aligned difference instead)
    tol = 1e-9 * max(1.0, float(np.linalg.norm(x))) if want == 0.0 else 1e-9
    assert abs(_value(name, x, x) - want) <= tol, (name, _value(name, x, x))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", INVARIANCES)
def test_each_stated_invariance_holds_and_no_other(name, kind):
    x, y = _pair()
    props = LAYER_MEASURES[name].props
    base = _value(name, x, y)
    moved = [_value(name, _transform(kind, x), y), _value(name, x, _transform(kind, y))]
    if kind in props.invariances:
        assert all(_close(m, base) for m in moved), (name, kind, base, moved)
    else:  # not claimed: it really changes the value for at least one side
        assert any(not _close(m, base, 1e-4) for m in moved), (name, kind, "is invariant but does not say so")


@pytest.mark.parametrize("name", NAMES)
def test_symmetry_where_stated(name):
    x, y = _pair()
    props = LAYER_MEASURES[name].props
    same = _close(_value(name, x, y), _value(name, y, x))
    assert same == props.symmetric or (not props.symmetric and same is False), name


@pytest.mark.parametrize("name", NAMES)
def test_values_lie_in_the_stated_range_and_narrower_layers_work(name):
    lo, hi = LAYER_MEASURES[name].props.range.strip("[]()").split(",")
    bounds = [
        -np.inf if "inf" in lo else float(lo.replace("pi/2", str(np.pi / 2))),
        np.inf if "inf" in hi else float(hi.replace("pi/2", str(np.pi / 2))),
    ]
    for seed in range(3):
        x, y = _pair(seed=seed)
        for a, b in ((x, y), (x[:, :6], y)):  # the pruned layer narrower than the dense one
            v = _value(name, a, b)
            assert np.isfinite(v) and bounds[0] - 1e-9 <= v <= bounds[1] + 1e-9, (name, v)


def test_hand_computed_cases():
    a = np.array([[1.0], [-1.0], [0.0]])
    b = np.array([[1.0], [0.0], [-1.0]])  # centred; correlation 1/2
    assert _close(_value("mean-cca", a, b), 0.5)
    assert _close(_value("svcca", a, b), 0.5)
    assert _close(_value("linear-regression", a, b), 0.25)
    assert _close(_value("angular-shape", a, b), np.pi / 3)
    two = np.array([[1.0], [-1.0]])
    assert _close(_value("procrustes-size-shape", two, 2 * two), np.sqrt(2.0))
    assert _close(_value("permutation-procrustes", np.array([[1.0, 2.0]]), np.array([[2.0, 1.0]])), 0.0)
    assert _close(_value("eigenspace-overlap", np.array([[1.0], [0.0]]), np.array([[0.0], [1.0]])), 0.0)
    assert _close(_value("magnitude-diff", np.array([[3.0, 4.0], [3.0, 4.0]]), np.zeros((2, 2))), 5.0)
    assert _close(rank_similarity_per_node(np.array([[1, 2]]), np.array([[2, 1]]))[0], 4 / 9)
    assert _close(float(js_divergence(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))[0]), 1.0)


def _song_hsic_kernel_form(k: np.ndarray, l: np.ndarray) -> float:
    n = k.shape[0]
    k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return float(
        (
            np.trace(k @ l)
            + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ k @ l @ one)
        )
        / (n * (n - 3))
    )


def test_cross_checks_against_independent_formulations():
    x, y = _pair(n=80)
    # Unbiased HSIC: feature form vs Song et al.'s kernel form.
    assert _close(unbiased_hsic_linear(x, y), _song_hsic_kernel_form(x @ x.T, y @ y.T))
    # Canonical correlations: SVD of orthonormal bases vs the eigenvalues of Sxx^-1 Sxy Syy^-1 Syx.
    xc, yc = x - x.mean(0), y - y.mean(0)
    sxx, syy, sxy = xc.T @ xc, yc.T @ yc, xc.T @ yc
    eig = np.sort(np.linalg.eigvals(np.linalg.solve(sxx, sxy) @ np.linalg.solve(syy, sxy.T)).real)[::-1]
    rho, _ = canonical(x, y)
    np.testing.assert_allclose(rho, np.sqrt(np.clip(eig, 0, None)), atol=1e-6)
    # Eigenspace overlap: SVD bases vs QR bases.
    qx, qy = np.linalg.qr(x)[0], np.linalg.qr(y)[0]
    assert _close(_value("eigenspace-overlap", x, y), float(np.sum((qx.T @ qy) ** 2)) / x.shape[1])
    # GULP: eigendecomposition form vs explicit inverses.
    lam, n = 0.05, x.shape[0]
    xs, ys = xc * np.sqrt(n) / np.linalg.norm(xc), yc * np.sqrt(n) / np.linalg.norm(yc)
    cx, cy, cxy = xs.T @ xs / n, ys.T @ ys / n, xs.T @ ys / n
    ix, iy = np.linalg.inv(cx + lam * np.eye(10)), np.linalg.inv(cy + lam * np.eye(10))
    d2 = np.sum((cx @ ix) ** 2) + np.sum((cy @ iy) ** 2) - 2 * np.trace(ix @ cxy @ iy @ cxy.T)
    assert _close(gulp_distance(x, y, lam), float(np.sqrt(d2)))
    # Distance correlation: vectorised vs the definition with explicit loops.
    small_x, small_y = x[:25], y[:25]
    dx = np.array([[np.linalg.norm(p - q) for q in small_x] for p in small_x])
    dy = np.array([[np.linalg.norm(p - q) for q in small_y] for p in small_y])
    ax = dx - dx.mean(0) - dx.mean(1)[:, None] + dx.mean()
    ay = dy - dy.mean(0) - dy.mean(1)[:, None] + dy.mean()
    assert _close(
        distance_correlation(small_x, small_y),
        float(np.sqrt((ax * ay).mean() / np.sqrt((ax * ax).mean() * (ay * ay).mean()))),
    )
    # RSA's Spearman: scipy vs Pearson of ranks.
    from scipy.stats import rankdata

    from gnneval.builtin.metrics.repsim.rsm import _lower, correlation_rsm

    ra, rb = rankdata(_lower(correlation_rsm(x))), rankdata(_lower(correlation_rsm(y)))
    assert _close(_value("rsa", x, y), float(np.corrcoef(ra, rb)[0, 1]))


def test_sampled_measures_record_their_sample_and_the_rest_use_every_node():
    from gnneval.plugin import GraphArrays, MetricInputs, VariantOutputs

    x, y = _pair(n=300)
    masks = {"test": np.ones(300, bool)}
    graph = GraphArrays("t", "node-classification", np.zeros(300, int), masks, np.zeros((2, 0), int), 2, 10)
    out = VariantOutputs(np.zeros((300, 2), np.float32), np.zeros(300, np.int64), {"l": x})
    dense = VariantOutputs(out.logits, out.predictions, {"l": y})
    inputs = MetricInputs(graph, out, dense, 3, "l", x, y, sample_size=100)
    for name, cls in LAYER_MEASURES.items():
        got = cls().compute(inputs)
        if cls.props.sampled:
            assert got["sample"] == 100 and got["sample_seed"] == 3, name
            assert _close(got["dense"], _value(name, x[inputs.node_sample()], y[inputs.node_sample()]))
        else:
            assert "sample" not in got and _close(got["dense"], _value(name, x, y)), name
        assert ("similarity" in got) == bool(cls.props.oriented), name


def test_every_measure_states_paper_formula_range_and_invariances():
    for name, cls in LAYER_MEASURES.items():
        doc = cls.__doc__ or ""
        assert cls.props.paper.split(",")[0] in doc and "Range" in doc and "invariant to" in doc, name
        assert "similar" in doc and cls.props.family, name


def test_similarity_all_selects_every_measure_and_only_them():
    from gnneval._plugins.manager import build_plugin_host
    from gnneval.run.settings import resolve_selection

    reg = build_plugin_host().registry
    defaults = resolve_selection(reg, "metric", None)
    chosen = resolve_selection(reg, "metric", ["+similarity-all"])
    added = [n for n in chosen if n not in defaults]
    assert set(LAYER_MEASURES) | {"output-jsd", "accuracy-diff"} <= set(added) and chosen[: len(defaults)] == defaults
    assert not (set(LAYER_MEASURES) & set(defaults))  # opt-in: the default run stays fast
    assert resolve_selection(reg, "metric", ["+svcca", "-similarity-all"]) == defaults + ["svcca"]


def test_the_gram_thin_svd_matches_lapack_and_is_orthonormal():
    from gnneval.builtin.metrics.repsim.base import thin_svd

    rng = np.random.default_rng(4)
    x = rng.normal(size=(500, 12)) @ np.diag(np.logspace(0, -4, 12))  # condition number 10^4
    u, s, vt = thin_svd(x)
    np.testing.assert_allclose(s, np.linalg.svd(x, compute_uv=False), rtol=1e-6)
    np.testing.assert_allclose(u.T @ u, np.eye(12), atol=1e-10)
    np.testing.assert_allclose((u * s) @ vt, x, atol=1e-8)
    low_rank = np.hstack([x[:, :3], x[:, :3] @ rng.normal(size=(3, 2))])  # rank 3 in 5 columns
    assert thin_svd(low_rank)[1].size == 3


def test_docs_list_every_measure_as_declared():
    from pathlib import Path

    from gnneval.builtin.metrics.repsim import measures_markdown

    docs = (Path(__file__).resolve().parents[1] / "docs" / "similarity.md").read_text()
    assert measures_markdown() in docs, "docs/similarity.md is stale: paste measures_markdown() into it"
    assert "topology" in docs and "PyPI" in docs


@pytest.mark.slow
def test_a_run_shows_the_measures_in_pictures_and_the_report(sbm_checkpoint, tmp_path):
    from gnneval.cli import main
    from gnneval.store.hdf5 import read_run

    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "magnitude,structured",
                "--sparsity",
                "0.5,0.8",
                "--out",
                str(out),
                "--no-progress",
                "--no-bench",
                "--metric-sample",
                "150",
                "--metrics",
                "accuracy,linear-cka,svcca,gulp,rsa",
                "--visualisers",
                "similarity-heatmap,similarity-agreement",
            ]
        )
        == 0
    )
    run = read_run(out)
    assert {"similarity-heatmap", "similarity-agreement"} <= set(run.files), run.problems
    layer = run.variant("magnitude@0.50").layer_metrics["convs.0"]
    assert {"svcca.similarity", "gulp.oriented", "rsa.sample", "linear-cka.similarity"} <= set(layer)
    assert "gulp.similarity" not in layer  # unbounded: no bounded orientation
    report = (out / "report.html").read_text()
    assert "Similarity to the dense model" in report and "<th>svcca</th>" in report and "<th>gulp</th>" not in report


def test_measures_of_a_layer_share_their_work_and_the_numbers_do_not_change(monkeypatch):
    """One SVD of the dense layer per run, one per variant layer — shared by the CCA family, the regression fit
    and the eigenspace overlap — and the same numbers as computing everything afresh."""
    from gnneval.builtin.metrics.repsim import base
    from gnneval.plugin import GraphArrays, MetricInputs, VariantOutputs

    calls = []
    real = base._thin_svd
    monkeypatch.setattr(base, "_thin_svd", lambda x, tol=base.RANK_TOL: calls.append(x.shape) or real(x, tol))
    rng = np.random.default_rng(0)
    y = rng.normal(size=(400, 12)).astype(np.float32)
    graph = GraphArrays(
        "t", "node-classification", np.zeros(400, int), {"test": np.ones(400, bool)}, np.zeros((2, 0), int), 2, 12
    )
    dense = VariantOutputs(np.zeros((400, 2), np.float32), np.zeros(400, np.int64), {"l": y})
    variants = [(y + rng.normal(size=y.shape) * s).astype(np.float32) for s in (0.3, 0.6)]

    def run_all(shared):
        out = []
        for x in variants:
            v = VariantOutputs(dense.logits, dense.predictions, {"l": x})
            inputs = MetricInputs(graph, v, dense, 0, "l", x, y, sample_size=100, shared=shared)
            out.append({name: cls().compute(inputs) for name, cls in LAYER_MEASURES.items()})
            if shared is not None:  # what the pipeline does after each variant
                for key in [k for k, (arr, _) in shared.items() if arr is not y]:
                    del shared[key]
        return out

    fresh = run_all(None)
    n_fresh = len(calls)
    calls.clear()
    shared_run = run_all({})
    assert shared_run == fresh
    assert len(calls) < n_fresh / 2, (len(calls), n_fresh)
