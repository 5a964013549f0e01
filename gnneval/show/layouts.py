"""2-D maps of embeddings for pictures and the explorer: a seeded UMAP layout of the dense model's layer, and
each variant's layout started from it and aligned to it, so the same node sits in the same region unless
pruning really moved it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "n_epochs": 200}
"""umap-learn's parameters for every map gnneval draws (McInnes et al. 2018's defaults, 200 epochs)."""


def umap_layout(x: np.ndarray, seed: int, init: Any = "spectral", **params: Any) -> np.ndarray:
    """A seeded 2-D UMAP layout of ``x`` ([n, d]), from ``init`` (``"spectral"`` or an [n, 2] start).

    k-NN comes exact from scikit-learn (BLAS): umap-learn's own path for small inputs calls a numba distance
    once per pair from Python, about 10x slower.  umap-learn's numba functions are compiled once per machine
    (:func:`gnneval.show.jit_cache.import_cached`)."""
    import warnings

    from sklearn.neighbors import NearestNeighbors

    from gnneval.show.jit_cache import import_cached

    umap = import_cached("umap")
    params = {**UMAP_PARAMS, **params}
    k = min(int(params["n_neighbors"]), len(x) - 1)
    dists, knn = NearestNeighbors(n_neighbors=k).fit(x).kneighbors(x)  # row 0 of each list is the point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs is 1 with random_state set; umap says so
        reducer = umap.UMAP(random_state=seed, init=init, precomputed_knn=(knn, dists), **{**params, "n_neighbors": k})
        return np.asarray(reducer.fit_transform(x))


def aligned_layouts(
    dense: np.ndarray, variants: Mapping[str, np.ndarray], seed: int, **params: Any
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The dense layout and every variant's, each started from the dense one and aligned to it by orthogonal
    Procrustes (rotation, reflection, uniform scale, shift); variants are fitted side by side in forked
    processes where the machine allows (:func:`gnneval.show.forked.map_in_processes`)."""
    from gnneval.show.forked import map_in_processes
    from gnneval.show.plots import procrustes_align

    base = umap_layout(dense, seed, **params)
    names = list(variants)
    fitted = map_in_processes(
        lambda name: procrustes_align(umap_layout(variants[name], seed, init=base, **params), base), names
    )
    return base, dict(zip(names, fitted))
