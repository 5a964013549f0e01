"""Similarity of a variant's layer embeddings to the dense model's same layer.

All of these work when the pruned layer is narrower than the dense one.

- Linear CKA (Kornblith et al. 2019) in its feature-space form,
  ``||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F)`` on column-centred embeddings: O(n d^2),
  never the n x n Gram matrix; all nodes (above ``--metric-nodes``, its seeded sample: ``sample``).
- RBF CKA on a seeded uniform sample of at most 500 nodes (the same for every variant and layer; its size
  and seed are stored), bandwidth ``sigma`` times the median pairwise distance, with a subsampling
  interval from ``--bootstrap`` half-size subsets drawn without replacement (resampling with
  replacement duplicates nodes, whose kernel entries are 1 in both Gram matrices, and biases CKA up).
- Orthogonal Procrustes distance (Ding et al. 2021) on centred, unit-Frobenius
  embeddings: ``sqrt(2 - 2 ||X'Y||_*)``, in [0, sqrt(2)]; all nodes (above ``--metric-nodes``, its seeded
  sample), O(n d^2).
- k-NN neighbourhood overlap: mean Jaccard of each node's k = 10 nearest
  neighbours (cosine) in the two representations, on the node sample, with a
  bootstrap interval.

Each also stores ``similarity`` (1 = identical; for Procrustes ``1 - d / sqrt(2)``) and ``oriented`` (larger =
more similar), as the measures of :mod:`gnneval.builtin.metrics.repsim` do.
"""

from __future__ import annotations

import numpy as np

from gnneval.plugin import Column, Metric, MetricInputs, hookimpl
from gnneval.plugin.helpers import (
    PERCENTILE_BOOTSTRAP,
    aligned_residual,
    centred_chunks,
    column_mean,
    cosine_knn,
    neighbour_jaccard,
    squared_norm,
    with_ci,
)

RBF_MAX_SAMPLE = 500


def oriented(values: dict[str, float]) -> dict[str, float]:
    """Add ``similarity`` (1 = identical) and ``oriented`` (larger = more similar) for a measure whose value
    ``dense`` already is a similarity in [0, 1] (see gnneval.builtin.metrics.repsim.base)."""
    return {**values, "similarity": values["dense"], "oriented": values["dense"]}


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between two representations of the same n points (any widths); the Gram matrices are summed a
    chunk of rows at a time (no float64 copy of a whole large layer)."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same points: {x.shape[0]} vs {y.shape[0]} rows")
    yx, xx_, yy_ = 0.0, 0.0, 0.0
    for a, b in zip(centred_chunks(x, column_mean(x)), centred_chunks(y, column_mean(y))):
        yx, xx_, yy_ = yx + b.T @ a, xx_ + a.T @ a, yy_ + b.T @ b
    xy = np.linalg.norm(yx) ** 2
    xx = np.linalg.norm(xx_)
    yy = np.linalg.norm(yy_)
    if xx == 0.0 or yy == 0.0:
        return 0.0  # a constant representation shares no structure with anything
    return float(xy / (xx * yy))


def _rbf_gram(x: np.ndarray, sigma: float) -> np.ndarray:
    sq = np.sum(x * x, axis=1)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0, None)
    med = np.median(d2[np.triu_indices(len(x), k=1)]) if len(x) > 1 else 0.0
    bw = sigma * sigma * med if med > 0 else 1.0
    return np.exp(-d2 / (2.0 * bw))


def _cka_from_grams(k: np.ndarray, l: np.ndarray) -> float:
    kc = k - k.mean(0, keepdims=True) - k.mean(1, keepdims=True) + k.mean()
    lc = l - l.mean(0, keepdims=True) - l.mean(1, keepdims=True) + l.mean()
    hsic = float((kc * lc).sum())
    den = float(np.sqrt((kc * kc).sum() * (lc * lc).sum()))
    return hsic / den if den > 0 else 0.0


def rbf_cka(x: np.ndarray, y: np.ndarray, sigma: float = 1.0) -> float:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return _cka_from_grams(_rbf_gram(x, sigma), _rbf_gram(y, sigma))


def procrustes_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Orthogonal Procrustes distance of centred, unit-Frobenius representations, in [0, sqrt(2)] (a chunk of
    rows at a time)."""
    mx, my = column_mean(x), column_mean(y)
    nx = float(np.sqrt(sum(squared_norm(a) for a in centred_chunks(x, mx))))
    ny = float(np.sqrt(sum(squared_norm(b) for b in centred_chunks(y, my))))
    if nx == 0 or ny == 0:
        return float(np.sqrt(2.0)) if nx != ny else 0.0
    residual = aligned_residual(x, y, shift=(mx, my), scale=(nx, ny))  # = sqrt(2 - 2 ||X'Y||_*), without cancelling
    return min(residual, float(np.sqrt(2.0)))


def knn_jaccard(x: np.ndarray, y: np.ndarray, k: int = 10) -> np.ndarray:
    """Per-node Jaccard index of the k-NN (cosine) sets in ``x`` and in ``y``."""
    return neighbour_jaccard(cosine_knn(x, k), cosine_knn(y, k))


def _capped_pair(inputs: MetricInputs) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """The layer and the dense layer at every node, or above ``--metric-nodes`` at its seeded sample (whose
    size is then stored as ``sample``)."""
    x, y = inputs.embedding, inputs.dense_embedding
    assert x is not None and y is not None
    idx = inputs.capped(np.arange(x.shape[0]))
    if len(idx) == x.shape[0]:
        return x, y, {}
    return x[idx], y[idx], {"sample": float(len(idx))}


class LinearCKA(Metric):
    """Linear centred kernel alignment of each layer to the dense model's (Kornblith et al. 2019): 1 = the same
    up to rotation and isotropic scaling; all nodes, in O(n d²).
    """

    summary = {
        "dense": Column(
            "CKA", role="similarity", help="linear CKA to the dense model's layer (1 = same up to rotation and scale)"
        )
    }
    level = "layer"
    needs_dense = True

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        x, y, sample = _capped_pair(inputs)
        return oriented({"dense": linear_cka(x, y), **sample})


RBF_SAMPLE_SALT = 31


def subsampling_interval(
    k: np.ndarray, l: np.ndarray, value: float, resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """A subsampling confidence interval for kernel CKA (Politis & Romano 1994): CKA on ``resamples``
    subsets of half the nodes drawn *without* replacement (a bootstrap resample repeats nodes, whose kernel
    entries are 1 in both Gram matrices, and biases CKA upward), centred on ``value`` and rescaled from
    size b to size m by sqrt(b / m)."""
    m = k.shape[0]
    b = m // 2
    if resamples < 1 or b < 4:
        return value, value
    rng = np.random.default_rng(seed + 4099)
    stats = []
    for _ in range(resamples):
        r = np.sort(rng.choice(m, b, replace=False))
        stats.append(_cka_from_grams(k[np.ix_(r, r)], l[np.ix_(r, r)]) - value)
    q_lo, q_hi = np.percentile(stats, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    scale = np.sqrt(b / m)
    return float(value - scale * q_hi), float(value - scale * q_lo)


class RbfCKA(Metric):
    """RBF-kernel CKA to the dense model's layer (Kornblith et al. 2019) on a seeded node sample, with a
    subsampling interval (Politis & Romano 1994).

    Args:
        sigma: the RBF bandwidth as a multiple of the median pairwise distance.
    """

    summary = {"dense": Column("RBF CKA")}
    intervals = {
        "dense": "95% subsampling interval (Politis & Romano 1994): CKA on --bootstrap seeded halves of "
        "the node sample drawn without replacement, rescaled by sqrt(b/m)"
    }
    level = "layer"
    needs_dense = True

    def __init__(self, *, sigma: float = 1.0) -> None:
        super().__init__()
        self.sigma = float(sigma)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        n = inputs.embedding.shape[0]
        m = min(RBF_MAX_SAMPLE, n)
        idx = np.random.default_rng(inputs.seed + RBF_SAMPLE_SALT).choice(n, m, replace=False)  # uniform, seeded
        k, l = (
            inputs.shared_result(
                of,
                f"rbf_gram:sigma={self.sigma}:seed={inputs.seed + RBF_SAMPLE_SALT}:m={m}",
                lambda e: _rbf_gram(np.asarray(e[idx], dtype=np.float64), self.sigma),
            )
            for of in ("variant", "dense")
        )
        value = _cka_from_grams(k, l)
        lo, hi = subsampling_interval(k, l, value, inputs.bootstrap, inputs.seed)
        return oriented(
            {
                "dense": value,
                "dense_ci_low": lo,
                "dense_ci_high": hi,
                "sample": float(m),
                "sample_seed": float(inputs.seed + RBF_SAMPLE_SALT),
                "interval_resamples": float(inputs.bootstrap),
            }
        )


class Procrustes(Metric):
    """Orthogonal Procrustes distance of the centred, unit-Frobenius layer to the dense model's (Ding et al.
    2021): 0 = the same up to rotation and scale, at most √2; computed from the aligned difference.
    """

    summary = {
        "dense": Column(
            "Procrustes", help="orthogonal Procrustes distance to dense (0 = same up to rotation and scale, max √2)"
        )
    }
    level = "layer"
    needs_dense = True

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        x, y, sample = _capped_pair(inputs)
        d = procrustes_distance(x, y)
        return {"dense": d, "similarity": 1.0 - d / np.sqrt(2.0), "oriented": -d, **sample}


class KnnOverlap(Metric):
    """Jaccard overlap of every node's k nearest neighbours (cosine) in the layer and in the dense model's,
    on the run's node sample, with a bootstrap interval over nodes.

    Args:
        k: nearest neighbours per node.
    """

    summary = {"dense": Column("kNN overlap", help="Jaccard overlap of 10-NN neighbourhoods with dense")}
    intervals = {"dense": PERCENTILE_BOOTSTRAP}
    level = "layer"
    needs_dense = True

    def __init__(self, *, k: int = 10) -> None:
        super().__init__()
        self.k = int(k)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        idx = inputs.node_sample()
        a, b = (
            inputs.shared_result(of, f"cosine_knn:k={self.k}:sample={len(idx)}", lambda e: cosine_knn(e[idx], self.k))
            for of in ("variant", "dense")
        )
        per_node = neighbour_jaccard(a, b)
        out = with_ci("dense", per_node, inputs.seed, inputs.bootstrap)
        out.update(sample=float(len(idx)), sample_seed=float(inputs.seed))
        return oriented(out)


@hookimpl
def gnneval_register_metrics(register):
    register.add_metric("linear-cka", LinearCKA, description="linear CKA of each layer to the dense model's")
    register.add_metric("rbf-cka", RbfCKA, description="RBF-kernel CKA to the dense model (node sample)")
    register.add_metric("procrustes", Procrustes, description="orthogonal Procrustes distance to the dense model")
    register.add_metric("knn-overlap", KnnOverlap, description="10-NN neighbourhood Jaccard overlap with dense")
