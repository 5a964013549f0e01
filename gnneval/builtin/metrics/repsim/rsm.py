"""RSM family: measures built on the nodes' pairwise (dis)similarities.

RSA, the RSM norm difference and distance correlation need the n × n matrices and run on the run's node
sample.  Debiased CKA, the eigenspace overlap score and GULP have exact O(n d²) feature-space forms and use
every node (the tests check them against their kernel / eigendecomposition forms).
"""

from __future__ import annotations

import numpy as np

from gnneval.builtin.metrics.repsim.base import Measure, Properties, centre, memo, thin_svd

_ALL = frozenset({"orthogonal", "isotropic-scaling", "translation", "permutation"})


def _pairwise_sq(x: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between all rows, shared between the measures of a layer."""

    def compute() -> np.ndarray:
        sq = np.einsum("ij,ij->i", x, x)
        return np.clip(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0, None)

    return memo(x, "pairwise_sq", compute)


def _lower(m: np.ndarray) -> np.ndarray:
    return m[np.tril_indices(m.shape[0], k=-1)]


def correlation_rsm(x: np.ndarray) -> np.ndarray:
    """Pearson correlation between every two nodes' unit vectors (each node centred across its units)."""
    return memo(x, "correlation_rsm", lambda: _correlation_rsm(x))


def _correlation_rsm(x: np.ndarray) -> np.ndarray:
    z = x - x.mean(1, keepdims=True)
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    z = z / np.where(norms > 0, norms, 1.0)
    return z @ z.T


class RSA(Measure):
    props = Properties(
        paper="Representational similarity analysis, Kriegeskorte et al. 2008",
        formula="Spearman (dense) and Pearson (pearson) correlation between the lower triangles of the two "
        "node × node Pearson-correlation RSMs (ReSi's default inner and outer choices).",
        range="[-1, 1]",
        larger_is_similar=True,
        symmetric=True,
        sampled=True,
        family="rsm",
        invariances=frozenset({"isotropic-scaling", "permutation"}),
        oriented="the value itself",
    )

    def value(self, x, y):
        from scipy.stats import pearsonr, spearmanr

        a, b = _lower(correlation_rsm(x)), _lower(correlation_rsm(y))
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            raise ValueError("a representation whose RSM is constant has no rank correlation")
        return {"dense": float(spearmanr(a, b).statistic), "pearson": float(pearsonr(a, b).statistic)}


class RSMNormDifference(Measure):
    props = Properties(
        paper="RSM norm difference (Shahbazi et al. 2021; ReSi)",
        formula="Frobenius norm of the difference of the lower triangles of the Euclidean-distance RSMs (ReSi "
        "takes np.linalg.norm(ord=2) of the square matrices, which is their spectral norm; we use the "
        "Frobenius norm its comment describes).",
        range="[0, inf)",
        larger_is_similar=False,
        symmetric=True,
        sampled=True,
        family="rsm",
        invariances=frozenset({"orthogonal", "translation", "permutation"}),
    )

    def value(self, x, y):
        return float(np.linalg.norm(_lower(np.sqrt(_pairwise_sq(x))) - _lower(np.sqrt(_pairwise_sq(y)))))


def double_centre(d: np.ndarray) -> np.ndarray:
    return d - d.mean(0, keepdims=True) - d.mean(1, keepdims=True) + d.mean()


def distance_correlation(x: np.ndarray, y: np.ndarray) -> float:
    a, b = double_centre(np.sqrt(_pairwise_sq(x))), double_centre(np.sqrt(_pairwise_sq(y)))
    vx, vy = float(np.mean(a * a)), float(np.mean(b * b))
    if vx <= 0 or vy <= 0:
        return 0.0
    return float(np.sqrt(max(0.0, float(np.mean(a * b))) / np.sqrt(vx * vy)))


class DistanceCorrelation(Measure):
    props = Properties(
        paper="Distance correlation, Székely et al. 2007 (Ann. Statist.)",
        formula="sqrt(dCov²(X, Y) / sqrt(dVar²(X) dVar²(Y))), the V-statistics of the double-centred Euclidean "
        "distance matrices.",
        range="[0, 1]",
        larger_is_similar=True,
        symmetric=True,
        sampled=True,
        family="rsm",
        invariances=_ALL,
        oriented="the value itself",
    )

    def value(self, x, y):
        return distance_correlation(x, y)


def unbiased_hsic_linear(x: np.ndarray, y: np.ndarray) -> float:
    """Song et al.'s (2012) unbiased HSIC of the linear kernels K = XX', L = YY', in O(n d²):
    [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)), K~ = K with a zero diagonal."""
    n = x.shape[0]
    kd, ld = np.einsum("ij,ij->i", x, x), np.einsum("ij,ij->i", y, y)
    trace = float(np.sum((x.T @ y) ** 2) - kd @ ld)
    k1, l1 = x @ x.sum(0) - kd, y @ y.sum(0) - ld
    return (trace + float(k1.sum() * l1.sum()) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * float(k1 @ l1)) / (n * (n - 3))


class DebiasedCKA(Measure):
    props = Properties(
        paper="Debiased linear CKA: Kornblith et al. 2019's CKA with Song et al. 2012's unbiased HSIC",
        formula="HSIC_u(X, Y) / sqrt(HSIC_u(X, X) HSIC_u(Y, Y)) on column-centred features (as Kornblith's "
        "code does); feature-space form, O(n d²). Unlike biased CKA it is not bounded below by 0.",
        range="(-inf, 1]",
        larger_is_similar=True,
        symmetric=True,
        family="rsm",
        invariances=_ALL,
        oriented="the value itself",
    )

    def value(self, x, y):
        if x.shape[0] < 4:
            raise ValueError("the unbiased HSIC needs at least 4 nodes")
        x, y = centre(x), centre(y)
        den = unbiased_hsic_linear(x, x) * unbiased_hsic_linear(y, y)
        return float(unbiased_hsic_linear(x, y) / np.sqrt(den)) if den > 0 else 0.0


def left_basis(x: np.ndarray) -> np.ndarray:
    return thin_svd(x)[0]


class EigenspaceOverlap(Measure):
    props = Properties(
        paper="Eigenspace overlap score, May et al. 2019 (NeurIPS)",
        formula="||U'V||_F² / max(d, d') with U, V orthonormal bases of the (uncentred) column spaces.",
        range="[0, 1]",
        larger_is_similar=True,
        symmetric=True,
        family="rsm",
        invariances=frozenset({"orthogonal", "isotropic-scaling", "permutation", "invertible-linear"}),
        oriented="the value itself",
    )

    def value(self, x, y):
        return float(np.sum((left_basis(x).T @ left_basis(y)) ** 2) / max(x.shape[1], y.shape[1]))


def gulp_distance(x: np.ndarray, y: np.ndarray, lam: float) -> float:
    """GULP (Boix-Adserà et al. 2022): the distance between the λ-ridge predictors on X and on Y, after
    centring and scaling each to mean squared row norm 1; feature-space form."""
    n = x.shape[0]

    def prep(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = centre(a)
        norm = np.linalg.norm(a)
        a = a * (np.sqrt(n) / norm) if norm > 0 else a
        evals, evecs = np.linalg.eigh(a.T @ a / n)
        evals = np.clip(evals, 0.0, None)
        inv = 1.0 / (evals + lam) if lam > 0 else np.where(evals > 1e-10, 1.0 / np.where(evals > 0, evals, 1.0), 0.0)
        return a, evals * inv, (evecs * inv) @ evecs.T

    xa, fx, ix = prep(x)
    ya, fy, iy = prep(y)
    cxy = xa.T @ ya / n
    t3 = float(np.trace(ix @ cxy @ iy @ cxy.T))
    total = float(np.sum(fx**2) + np.sum(fy**2))
    squared = total - 2.0 * t3
    # the closed form cancels near identity: what is within rounding of the two norms is 0
    return float(np.sqrt(squared)) if squared > 64 * np.finfo(np.float64).eps * total else 0.0


class GULP(Measure):
    props = Properties(
        paper="GULP, Boix-Adserà et al. 2022 (NeurIPS)",
        formula="d_l = sqrt(||Sx(Sx+lI)^-1||_F² + ||Sy(Sy+lI)^-1||_F² - 2 tr((Sx+lI)^-1 Sxy (Sy+lI)^-1 Syx)) "
        "with the covariances S of the centred representations scaled to mean squared row norm 1 and "
        "l = lam (option, default 0.01), the ridge penalty; ReSi reports d_l².",
        range="[0, inf)",
        larger_is_similar=False,
        symmetric=True,
        family="rsm",
        invariances=_ALL,
    )

    def __init__(self, *, lam: float = 0.01) -> None:
        """
        Args:
            lam: the ridge penalty λ (0: the CCA-like limit).
        """
        super().__init__()
        self.lam = float(lam)

    def value(self, x, y):
        return gulp_distance(x, y, self.lam)


MEASURES = {
    "rsa": RSA,
    "rsm-norm-diff": RSMNormDifference,
    "distance-correlation": DistanceCorrelation,
    "debiased-cka": DebiasedCKA,
    "eigenspace-overlap": EigenspaceOverlap,
    "gulp": GULP,
}
