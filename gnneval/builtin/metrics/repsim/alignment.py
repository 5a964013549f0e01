"""Alignment family: how close the representations come after the best transformation of a kind.

The orthogonal Procrustes distance of centred, unit-norm representations (Ding et al. 2021) is the
existing ``procrustes`` metric; here are its un-normalised size-and-shape form, the angular shape metric,
permutation Procrustes, aligned cosine similarity and the linear-regression fit.  All are O(n d²) on every
node.  A narrower pruned layer is zero-padded (its removed channels were constant zero) where the measure
needs equal widths; the nuclear-norm forms need no padding (they equal the padded value).
"""

from __future__ import annotations

import numpy as np

from gnneval.builtin.metrics.repsim.base import (
    Measure,
    Properties,
    centre,
    pad_to_same_width,
    thin_svd,
    unit_frobenius,
)
from gnneval.plugin.helpers import aligned_residual


def nuclear(x: np.ndarray, y: np.ndarray) -> float:
    """||x'y||_*: the largest <xQ, y> over orthogonal Q (widths padded implicitly)."""
    return float(np.linalg.svd(x.T @ y, compute_uv=False).sum())


def orthogonal_alignment(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The orthogonal Q minimising ||xQ - y||_F (Schönemann 1966), for equal widths."""
    u, _, vt = np.linalg.svd(x.T @ y)
    return u @ vt


class SizeShapeDistance(Measure):
    props = Properties(
        paper="Procrustes size-and-shape distance, Williams et al. 2021 (NeurIPS), as in ReSi",
        formula="sqrt(||X||² + ||Y||² - 2 ||X'Y||_*) on column-centred, un-normalised representations.",
        range="[0, inf)",
        larger_is_similar=False,
        symmetric=True,
        family="alignment",
        invariances=frozenset({"orthogonal", "translation", "permutation"}),
    )

    def value(self, x, y):
        return aligned_residual(centre(x), centre(y))  # the formula's value, from the aligned difference


class AngularShape(Measure):
    props = Properties(
        paper="Orthogonal angular shape metric, Williams et al. 2021 (NeurIPS)",
        formula="arccos ||X'Y||_* for column-centred, unit-Frobenius X and Y (computed as 2 arcsin(r / 2) from "
        "the aligned residual r = min_Q ||XQ - Y||_F, which does not cancel near identity).",
        range="[0, pi/2]",
        larger_is_similar=False,
        symmetric=True,
        family="alignment",
        invariances=frozenset({"orthogonal", "isotropic-scaling", "translation", "permutation"}),
        oriented="1 - 2 theta / pi",
    )

    def value(self, x, y):
        x, y = unit_frobenius(centre(x)), unit_frobenius(centre(y))
        return float(2.0 * np.arcsin(min(1.0, aligned_residual(x, y) / 2.0)))

    def oriented(self, value):
        return 1.0 - 2.0 * value / np.pi


class PermutationProcrustes(Measure):
    props = Properties(
        paper="Permutation Procrustes (Williams et al. 2021; ReSi)",
        formula="min over unit permutations P of ||XP - Y||_F (Hungarian assignment on X'Y), the narrower "
        "representation zero-padded; no centring or scaling.",
        range="[0, inf)",
        larger_is_similar=False,
        symmetric=True,
        family="alignment",
        invariances=frozenset({"permutation"}),
    )

    def value(self, x, y):
        from scipy.optimize import linear_sum_assignment

        x, y = pad_to_same_width(x, y)
        rows, cols = linear_sum_assignment(x.T @ y, maximize=True)
        return float(np.linalg.norm(x[:, rows] - y[:, cols]))


class AlignedCosine(Measure):
    props = Properties(
        paper="Aligned cosine similarity (Hamilton et al. 2016; ReSi)",
        formula="mean over nodes of cos(x_i Q, y_i) with Q the orthogonal Procrustes alignment of X to Y "
        "(narrower zero-padded); nodes all-zero in either are left out and counted (zero_rows).",
        range="[-1, 1]",
        larger_is_similar=True,
        symmetric=True,
        family="alignment",
        invariances=frozenset({"orthogonal", "isotropic-scaling", "permutation"}),
        oriented="the value itself",
    )

    def value(self, x, y):
        x, y = pad_to_same_width(x, y)
        xa = x @ orthogonal_alignment(x, y)
        nx, ny = np.linalg.norm(xa, axis=1), np.linalg.norm(y, axis=1)
        ok = (nx > 0) & (ny > 0)
        if not ok.any():
            raise ValueError("every node is all-zero in one of the representations; cosine is undefined")
        cos = np.einsum("ij,ij->i", xa[ok], y[ok]) / (nx[ok] * ny[ok])
        return {"dense": float(cos.mean()), "zero_rows": float((~ok).sum())}


def regression_r2(source: np.ndarray, target: np.ndarray) -> float:
    """R² of the least-squares linear map from centred ``source`` to centred ``target``:
    ||P target||² / ||target||², P the projection onto the column space of ``source``."""
    s, t = centre(source), centre(target)
    total = float(np.sum(t * t))
    if total == 0:
        return 1.0
    u, _, _ = thin_svd(s)
    return float(np.sum((u.T @ t) ** 2) / total)


class LinearRegressionFit(Measure):
    props = Properties(
        paper="Linear regression fit (Kornblith et al. 2019, R²_LR; Klabunde et al. 2023)",
        formula="dense: R² of predicting the dense layer from the variant's by least squares (centred); "
        "reverse: the variant's from the dense layer's. Each is also invariant to any invertible "
        "linear map of its predictor.",
        range="[0, 1]",
        larger_is_similar=True,
        symmetric=False,
        family="alignment",
        invariances=frozenset({"orthogonal", "isotropic-scaling", "translation", "permutation"}),
        oriented="the value itself (dense from variant)",
    )

    def value(self, x, y):
        return {"dense": regression_r2(x, y), "reverse": regression_r2(y, x)}


MEASURES = {
    "procrustes-size-shape": SizeShapeDistance,
    "angular-shape": AngularShape,
    "permutation-procrustes": PermutationProcrustes,
    "aligned-cosine": AlignedCosine,
    "linear-regression": LinearRegressionFit,
}
