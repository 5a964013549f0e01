"""Statistics family: compare one summary statistic of each representation (Wang et al. 2020; ReSi).

Zero means the statistic is unchanged, not that the representations are the same.
"""

from __future__ import annotations

import numpy as np

from gnneval.builtin.metrics.repsim.base import Measure, Properties
from gnneval.plugin.helpers import l2_normalise

_DIFF = dict(larger_is_similar=False, symmetric=True, family="statistics")


def magnitude(x: np.ndarray) -> float:
    """||mean row||: the length of the average node representation."""
    return float(np.linalg.norm(x.mean(0)))


def concentricity(x: np.ndarray) -> float:
    """Mean cosine similarity of each node's representation to the mean representation."""
    m = x.mean(0)
    if not np.any(m):
        return 0.0
    return float((l2_normalise(x) @ (m / np.linalg.norm(m))).mean())


def uniformity(x: np.ndarray, t: float = 2.0) -> float:
    """Wang & Isola (2020): log mean over all node pairs (i, j), i = j included, of exp(-t ||x_i - x_j||²)."""
    from gnneval.builtin.metrics.repsim.rsm import _pairwise_sq

    return float(np.log(np.mean(np.exp(-t * _pairwise_sq(x)))))


class MagnitudeDifference(Measure):
    props = Properties(
        paper="Magnitude difference (Wang et al. 2020; ReSi)",
        formula="| ||mean(X)|| - ||mean(Y)|| |, the mean taken over nodes.",
        range="[0, inf)",
        invariances=frozenset({"orthogonal", "permutation"}),
        **_DIFF,
    )

    def value(self, x, y):
        return abs(magnitude(x) - magnitude(y))


class ConcentricityDifference(Measure):
    props = Properties(
        paper="Concentricity difference (Wang et al. 2020; ReSi)",
        formula="|mean_i cos(x_i, mean(X)) - mean_i cos(y_i, mean(Y))|.",
        range="[0, 2]",
        invariances=frozenset({"orthogonal", "isotropic-scaling", "permutation"}),
        **_DIFF,
    )

    def value(self, x, y):
        return abs(concentricity(x) - concentricity(y))


class UniformityDifference(Measure):
    props = Properties(
        paper="Uniformity difference (Wang & Isola 2020's uniformity; ReSi)",
        formula="|U(X) - U(Y)|, U = log mean_{i,j} exp(-2 ||x_i - x_j||²) on the raw representations "
        "(Wang & Isola normalise to the unit sphere first; ReSi does not, nor do we).",
        range="[0, inf)",
        sampled=True,
        invariances=frozenset({"orthogonal", "translation", "permutation"}),
        **_DIFF,
    )

    def value(self, x, y):
        return abs(uniformity(x) - uniformity(y))


MEASURES = {
    "magnitude-diff": MagnitudeDifference,
    "concentricity-diff": ConcentricityDifference,
    "uniformity-diff": UniformityDifference,
}
