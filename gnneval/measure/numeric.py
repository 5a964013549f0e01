"""Numerical helpers shared by the built-in metrics (no hooks here)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

EDGE_CHUNK = 1 << 20  #: edges per chunk: keeps O(|E| d) metrics at O(chunk * d) extra memory


def edge_chunks(edge_index: np.ndarray, chunk: int = EDGE_CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(src, dst)`` index arrays over ``edge_index`` in chunks."""
    for start in range(0, edge_index.shape[1], chunk):
        yield edge_index[0, start:start + chunk], edge_index[1, start:start + chunk]


def bootstrap_ci(per_item: np.ndarray, seed: int, n_boot: int = 200, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean of ``per_item``."""
    per_item = np.asarray(per_item, dtype=np.float64)
    if per_item.size < 2 or n_boot < 1:
        m = float(per_item.mean()) if per_item.size else float("nan")
        return m, m
    rng = np.random.default_rng(seed + 7919)
    idx = rng.integers(0, per_item.size, size=(n_boot, per_item.size))
    means = per_item[idx].mean(axis=1)
    lo, hi = np.percentile(means, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


PERCENTILE_BOOTSTRAP = ("95% percentile bootstrap of the mean over the sampled nodes (Efron 1979), --bootstrap "
                        "resamples with replacement, seeded")


def with_ci(key: str, per_item: np.ndarray, seed: int, n_boot: int) -> dict[str, float]:
    """``{key: mean, key_ci_low: ..., key_ci_high: ...}``."""
    lo, hi = bootstrap_ci(per_item, seed, n_boot)
    return {key: float(np.mean(per_item)), f"{key}_ci_low": lo, f"{key}_ci_high": hi}


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def cosine_knn(x: np.ndarray, k: int) -> np.ndarray:
    """Indices of each row's ``k`` nearest other rows by cosine similarity (exact, blocked)."""
    xn = l2_normalise(np.asarray(x, dtype=np.float32))
    n = xn.shape[0]
    k = min(k, n - 1)
    out = np.empty((n, k), dtype=np.int64)
    block = max(1, min(n, (1 << 24) // max(n, 1)))
    for start in range(0, n, block):
        sim = xn[start:start + block] @ xn.T
        rows = np.arange(sim.shape[0])
        sim[rows, start + rows] = -np.inf  # not its own neighbour
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < n else np.argsort(-sim, axis=1)[:, :k]
        out[start:start + block] = part
    return out


def neighbour_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row Jaccard index of two arrays of neighbour lists (e.g. two :func:`cosine_knn` results)."""
    out = np.empty(len(a))
    for i in range(len(a)):
        inter = len(np.intersect1d(a[i], b[i], assume_unique=True))
        out[i] = inter / (2 * a.shape[1] - inter)
    return out
