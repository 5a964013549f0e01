"""CCA family: mean CCA, SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018).

Canonical correlations are the singular values of ``Qx' Qy`` where ``Qx``, ``Qy`` are orthonormal bases of
the column-centred representations (thin SVD; directions with singular value below ``base.RANK_TOL`` times the
largest are dropped, as the reference code drops low-variance neurons).  Everything is O(n d²): all nodes.
"""

from __future__ import annotations

import numpy as np

from gnneval.builtin.metrics.repsim.base import Measure, Properties, centre, memo, thin_svd

SVCCA_VARIANCE = 0.99  #: SVCCA keeps the top directions explaining 99% of the variance (Raghu et al.)


def _basis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(U, s, Vt)`` of the thin SVD of ``x`` restricted to its numerical rank."""
    return thin_svd(x)


def canonical(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Canonical correlations (descending, in [0, 1]) of centred ``x`` and ``y``, and ``x``'s canonical
    variates (n × k, orthonormal columns)."""
    qx, _, _ = _basis(centre(x))
    qy, _, _ = _basis(centre(y))
    if qx.shape[1] == 0 or qy.shape[1] == 0:
        return np.zeros(0), np.zeros((x.shape[0], 0))
    a, rho, _ = np.linalg.svd(qx.T @ qy, full_matrices=False)
    return np.clip(rho, 0.0, 1.0), qx @ a[:, : rho.size]


def top_variance(x: np.ndarray, share: float = SVCCA_VARIANCE) -> np.ndarray:
    """The projection of centred ``x`` onto its fewest top singular directions holding ``share`` of the variance."""
    return memo(x, f"top_variance:{share}", lambda: _top_variance(x, share))


def _top_variance(x: np.ndarray, share: float) -> np.ndarray:
    u, s, _ = _basis(centre(x))
    if s.size == 0:
        return u
    k = int(np.searchsorted(np.cumsum(s**2) / np.sum(s**2), share - 1e-12) + 1)
    return u[:, :k] * s[:k]


class MeanCCA(Measure):
    props = Properties(
        paper="Mean canonical correlation (Hotelling 1936; as surveyed by Klabunde et al. 2023)",
        formula="mean of the canonical correlations rho_i = singular values of Qx'Qy (centred bases).",
        range="[0, 1]",
        larger_is_similar=True,
        symmetric=True,
        family="cca",
        invariances=frozenset({"orthogonal", "isotropic-scaling", "translation", "permutation", "invertible-linear"}),
        oriented="the value itself",
    )

    def value(self, x, y):
        rho, _ = canonical(x, y)
        return float(rho.mean()) if rho.size else 0.0


class SVCCA(Measure):
    props = Properties(
        paper="SVCCA, Raghu et al. 2017 (NeurIPS)",
        formula="each representation reduced to its top singular directions holding 99% of the variance "
        "(sum of s² — ReSi's helper compares the normalised cumulative share with 0.99 × the total "
        "variance and keeps one direction whenever the variance exceeds 1; we follow the paper), then "
        "the mean canonical correlation.",
        range="[0, 1]",
        larger_is_similar=True,
        symmetric=True,
        family="cca",
        invariances=frozenset({"orthogonal", "isotropic-scaling", "translation", "permutation"}),
        oriented="the value itself",
    )

    def value(self, x, y):
        rho, _ = canonical(top_variance(x), top_variance(y))
        return float(rho.mean()) if rho.size else 0.0


class PWCCA(Measure):
    props = Properties(
        paper="Projection-weighted CCA, Morcos et al. 2018 (NeurIPS)",
        formula="sum_i alpha_i rho_i, alpha_i proportional to sum_j |<h_i, x_j>| for the canonical variates h_i "
        "and the centred units x_j of the representation with fewer units (the variant's on ties), "
        "as in the authors' code.",
        range="[0, 1]",
        larger_is_similar=True,
        symmetric=False,
        family="cca",
        invariances=frozenset({"isotropic-scaling", "translation", "permutation"}),
        oriented="the value itself",
    )

    def value(self, x, y):
        if y.shape[1] < x.shape[1]:
            x, y = y, x
        rho, h = canonical(x, y)
        if rho.size == 0:
            return 0.0
        weights = np.abs(h.T @ centre(x)).sum(1)
        total = weights.sum()
        return float((weights * rho).sum() / total) if total > 0 else 0.0


MEASURES = {"mean-cca": MeanCCA, "svcca": SVCCA, "pwcca": PWCCA}
