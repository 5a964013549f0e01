"""Neighbourhood family: do nodes keep their nearest neighbours?  (k-NN Jaccard is ``knn-overlap``.)

Each node's ``k`` (10) nearest other nodes by cosine similarity, on the run's node sample (exact, blocked).
"""

from __future__ import annotations

import numpy as np

from gnneval.builtin.metrics.repsim.base import Measure, Properties, memo
from gnneval.plugin.helpers import cosine_knn, l2_normalise, neighbour_jaccard

_INV = frozenset({"orthogonal", "isotropic-scaling", "permutation"})


def knn(x: np.ndarray, k: int) -> np.ndarray:
    """Each node's k nearest other nodes by cosine similarity, shared between the measures of a layer."""
    return memo(x, f"cosine_knn:{k}", lambda: cosine_knn(x, k))


def rank_similarity_per_node(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Wang et al. (2020): for the neighbours j shared by node i's ranked lists ``a[i]`` and ``b[i]``,
    sum 2 / ((1 + |r_a(j) - r_b(j)|)(r_a(j) + r_b(j))), divided by sum_{m=1..|shared|} 1/m; 0 if none shared."""
    n, k = a.shape
    out = np.zeros(n)
    for i in range(n):
        rank_b = {int(j): r for r, j in enumerate(b[i], start=1)}
        score, shared = 0.0, 0
        for r_a, j in enumerate(a[i], start=1):
            r_b = rank_b.get(int(j))
            if r_b is not None:
                shared += 1
                score += 2.0 / ((1 + abs(r_a - r_b)) * (r_a + r_b))
        out[i] = score / np.sum(1.0 / np.arange(1, shared + 1)) if shared else 0.0
    return out


class _KnnMeasure(Measure):
    def __init__(self, *, k: int = 10) -> None:
        """
        Args:
            k: nearest neighbours per node (cosine similarity).
        """
        super().__init__()
        self.k = int(k)


class SecondOrderCosine(_KnnMeasure):
    props = Properties(
        paper="Second-order cosine similarity, Hamilton et al. 2016 (EMNLP)",
        formula="mean over nodes i of cos(s_X(i), s_Y(i)), s(i) the cosine similarities of i to the union of its "
        "k nearest neighbours in X and in Y — similarities as in the paper (ReSi uses cosine distances).",
        range="[-1, 1]",
        larger_is_similar=True,
        symmetric=True,
        sampled=True,
        family="neighbourhood",
        invariances=_INV,
        oriented="the value itself",
    )

    def value(self, x, y):
        xn, yn = l2_normalise(x), l2_normalise(y)
        a, b = knn(x, self.k), knn(y, self.k)
        vals = np.empty(len(a))
        for i in range(len(a)):
            union = np.union1d(a[i], b[i])
            sx, sy = xn[union] @ xn[i], yn[union] @ yn[i]
            den = np.linalg.norm(sx) * np.linalg.norm(sy)
            vals[i] = float(sx @ sy / den) if den > 0 else 0.0
        return float(vals.mean())


class RankSimilarity(_KnnMeasure):
    props = Properties(
        paper="Rank similarity, Wang et al. 2020 (arXiv 2009.14640; as defined in Klabunde et al. 2023)",
        formula="mean over nodes of the normalised rank agreement of the shared k nearest neighbours: "
        "sum over shared j of 2 / ((1 + |r_X(j) - r_Y(j)|)(r_X(j) + r_Y(j))) / sum_{m<=|shared|} 1/m.",
        range="[0, 1]",
        larger_is_similar=True,
        symmetric=True,
        sampled=True,
        family="neighbourhood",
        invariances=_INV,
        oriented="the value itself",
    )

    def value(self, x, y):
        return float(rank_similarity_per_node(knn(x, self.k), knn(y, self.k)).mean())


class JointRankJaccard(_KnnMeasure):
    props = Properties(
        paper="Joint rank and Jaccard similarity, Wang et al. 2020 (as in ReSi)",
        formula="mean over nodes of Jaccard(N_X(i), N_Y(i)) × rank similarity(i).",
        range="[0, 1]",
        larger_is_similar=True,
        symmetric=True,
        sampled=True,
        family="neighbourhood",
        invariances=_INV,
        oriented="the value itself",
    )

    def value(self, x, y):
        a, b = knn(x, self.k), knn(y, self.k)
        return float((neighbour_jaccard(a, b) * rank_similarity_per_node(a, b)).mean())


MEASURES = {
    "second-order-cosine": SecondOrderCosine,
    "rank-similarity": RankSimilarity,
    "joint-rank-jaccard": JointRankJaccard,
}
