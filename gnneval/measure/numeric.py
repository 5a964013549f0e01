"""Numerical helpers shared by the built-in metrics (no hooks here)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

EDGE_CHUNK = 1 << 17  #: edges per chunk: keeps O(|E| d) metrics at O(chunk * d) extra memory (~130 MiB at d = 128)
BOOTSTRAP_BLOCK = 1 << 25  #: resampled indices drawn at a time (256 MiB): a larger draw is made in blocks of resamples


def edge_chunks(edge_index: np.ndarray, chunk: int = EDGE_CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(src, dst)`` index arrays over ``edge_index`` in chunks."""
    for start in range(0, edge_index.shape[1], chunk):
        yield edge_index[0, start : start + chunk], edge_index[1, start : start + chunk]


def bootstrap_ci(per_item: np.ndarray, seed: int, n_boot: int = 200, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``per_item``."""
    per_item = np.asarray(per_item, dtype=np.float64)
    if per_item.size < 2 or n_boot < 1:
        m = float(per_item.mean()) if per_item.size else float("nan")
        return m, m
    rng = np.random.default_rng(seed + 7919)
    rows = max(1, BOOTSTRAP_BLOCK // per_item.size)  # n_boot x n at once up to the block (the same draw as before)
    means = np.concatenate([per_item[rng.integers(0, per_item.size, size=(min(rows, n_boot - s), per_item.size))]
                            .mean(axis=1) for s in range(0, n_boot, rows)])  # fmt: skip
    lo, hi = np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


PERCENTILE_BOOTSTRAP = (
    "95% percentile bootstrap of the mean over the sampled nodes (Efron 1979), --bootstrap "
    "resamples with replacement, seeded"
)


def with_ci(key: str, per_item: np.ndarray, seed: int, n_boot: int) -> dict[str, float]:
    """``{key: mean, key_ci_low: ..., key_ci_high: ...}``."""
    lo, hi = bootstrap_ci(per_item, seed, n_boot)
    return {key: float(np.mean(per_item)), f"{key}_ci_low": lo, f"{key}_ci_high": hi}


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def cosine_knn(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's ``k`` nearest other rows by cosine similarity (exact, blocked), nearest first.

    Similarities are computed in float64, so that the order of near-ties does not depend on the BLAS kernel
    or on the order of the columns (rank-based measures are permutation-invariant only then); exact ties go to
    the lower index."""
    xn = l2_normalise(np.asarray(x, dtype=np.float64))
    n = xn.shape[0]
    k = min(k, n - 1)
    out = np.empty((n, k), dtype=np.int64)
    block = max(1, min(n, (1 << 23) // max(n, 1)))
    for start in range(0, n, block):
        sim = xn[start : start + block] @ xn.T
        rows = np.arange(sim.shape[0])
        sim[rows, start + rows] = -np.inf  # not its own neighbour
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < n else np.argsort(-sim, axis=1)[:, :k]
        order = np.lexsort((part, -np.take_along_axis(sim, part, axis=1)), axis=1)
        out[start : start + block] = np.take_along_axis(part, order, axis=1)
    return out


def neighbour_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row Jaccard index of two arrays of neighbour lists (e.g. two :func:`cosine_knn` results)."""
    out = np.empty(len(a))
    for i in range(len(a)):
        inter = len(np.intersect1d(a[i], b[i], assume_unique=True))
        out[i] = inter / (2 * a.shape[1] - inter)
    return out


ROW_CHUNK = 1 << 18
"""Rows a float64 copy is made of at a time by the O(n d²) measures (an ogbn-products layer is 2.4M rows): one
chunk below it, so a smaller graph's value is computed exactly as in one piece."""


def row_chunks(n: int) -> list[slice]:
    """Consecutive slices of at most :data:`ROW_CHUNK` rows covering ``n`` rows."""
    return [slice(s, s + ROW_CHUNK) for s in range(0, max(n, 1), ROW_CHUNK)]


def column_mean(x: np.ndarray) -> np.ndarray:
    """``x``'s column means in float64, ``[1, d]``, a chunk of rows at a time."""
    if x.shape[0] <= ROW_CHUNK:
        return np.asarray(x, dtype=np.float64).mean(0, keepdims=True)
    total = sum(np.asarray(x[s], dtype=np.float64).sum(0, keepdims=True) for s in row_chunks(x.shape[0]))
    return np.asarray(total) / x.shape[0]


def centred_chunks(x: np.ndarray, mean: np.ndarray, scale: float = 1.0, width: int = 0) -> Iterator[np.ndarray]:
    """``(x - mean) / scale`` in float64, a chunk of rows at a time, zero-padded to ``width`` columns."""
    for s in row_chunks(x.shape[0]):
        part = np.asarray(x[s], dtype=np.float64) - mean
        if scale != 1.0:
            part = part / scale
        if part.shape[1] < width:
            part = np.hstack([part, np.zeros((part.shape[0], width - part.shape[1]))])
        yield part


def squared_norm(a: np.ndarray) -> float:
    """``||a||_F²`` as ``np.linalg.norm`` sums it (a dot product of the flattened array)."""
    flat = a.ravel(order="K")
    return float(flat.dot(flat))


def aligned_residual(
    x: np.ndarray, y: np.ndarray, shift: tuple[np.ndarray | float, np.ndarray | float] = (0.0, 0.0),
    scale: tuple[float, float] = (1.0, 1.0),
) -> float:  # fmt: skip
    """``min over orthogonal Q of ||xQ - y||_F`` (Schönemann 1966), the narrower side zero-padded; ``x`` and
    ``y`` are taken as ``(x - shift[0]) / scale[0]`` and ``(y - shift[1]) / scale[1]``, a chunk of rows at a
    time (:data:`ROW_CHUNK`), so no float64 copy of a whole large layer is made.

    Computed from the aligned difference itself, not as ``sqrt(||x||² + ||y||² - 2 ||x'y||_*)``: that closed
    form cancels catastrophically near identity (1e-6 instead of 0 for a layer compared with itself), this one
    is 0 to rounding there and equal to it elsewhere."""
    d = max(x.shape[1], y.shape[1])

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return zip(centred_chunks(x, np.asarray(shift[0]), scale[0], d),
                   centred_chunks(y, np.asarray(shift[1]), scale[1], d))  # fmt: skip

    cross = sum(a.T @ b for a, b in pairs())
    u, _, vt = np.linalg.svd(np.asarray(cross))
    rotation = u @ vt
    return float(np.sqrt(sum(squared_norm(a @ rotation - b) for a, b in pairs())))


def graph_means(x: np.ndarray, batch: np.ndarray, graphs: int) -> np.ndarray:
    """Each graph's mean node embedding (``[graphs, d]``, float64) from node embeddings and ``batch``, the graph of
    every node (what a graph-level map or probe shows for graph classification)."""
    sums = np.zeros((graphs, x.shape[1]))
    np.add.at(sums, batch, np.asarray(x, dtype=np.float64))
    return sums / np.maximum(np.bincount(batch, minlength=graphs), 1)[:, None]
