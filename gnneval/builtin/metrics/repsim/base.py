"""What every representational-similarity measure states, and the one ``Metric`` that runs them.

Each measure compares a variant's layer output ``X`` (n × d) with the dense model's output ``Y`` of the same
layer (n × d', d' may differ) and declares, as ReSi (Klabunde et al., ICLR 2025) does for its measures:
the paper, the formula, its range, whether larger or smaller means "more similar", whether it is symmetric,
and which transformations of a representation leave it unchanged.  Measures that are O(n²) or worse run on
the run's seeded node sample and store its size and seed; the others use every node.

Stored keys: ``dense`` (the measure's value), ``similarity`` (where a bounded form exists, oriented so that
1 = identical; how is in :attr:`Properties.oriented`), ``oriented`` (the value oriented so that larger = more
similar, for rank comparisons between measures), ``sample`` / ``sample_seed`` for sampled measures.  The
measures declare no summary columns (there are too many for a console table): the report's similarity table
and the ``similarity-heatmap`` / ``similarity-agreement`` pictures show them.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from gnneval.plugin import Metric, MetricInputs

INVARIANCES = ("orthogonal", "isotropic-scaling", "translation", "permutation", "invertible-linear")
GROUP = "similarity-all"  #: ``--metrics +similarity-all`` adds every measure


@dataclass(frozen=True)
class Properties:
    """What a measure is, in the terms ReSi uses to describe measures."""

    paper: str  #: who introduced it
    formula: str  #: how it is computed here
    range: str  #: e.g. "[0, 1]"
    larger_is_similar: bool  #: direction of "more similar"
    symmetric: bool  #: m(X, Y) == m(Y, X)
    invariances: frozenset[str] = field(default_factory=frozenset)  #: subset of INVARIANCES
    sampled: bool = False  #: O(n²): computed on the run's node sample
    oriented: str = ""  #: how ``similarity`` (1 = identical) is formed from the value; empty: no bounded form
    family: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.invariances) - set(INVARIANCES)
        if unknown:
            raise ValueError(f"unknown invariances {sorted(unknown)}")


def f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


_MEMO: dict[int, dict[str, Any]] = {}


def memo(x: np.ndarray, what: str, compute: Callable[[], Any]) -> Any:
    """``compute()``, remembered for as long as the array ``x`` lives: the measures of one layer share their
    centred matrices, SVDs, k-NN lists and distance matrices (the arrays come from
    ``MetricInputs.shared_result``, so every measure of a layer sees the same ``x``)."""
    entry = _MEMO.get(id(x))
    if entry is None:
        entry = _MEMO[id(x)] = {}
        weakref.finalize(x, _MEMO.pop, id(x), None)
    if what not in entry:
        entry[what] = compute()
    return entry[what]


def centre(x: np.ndarray) -> np.ndarray:
    return memo(x, "centred", lambda: x - x.mean(0, keepdims=True))


def unit_frobenius(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x)
    return x / norm if norm > 0 else x


RANK_TOL = 1e-6  #: singular values below this share of the largest count as zero (the rank's cut-off)


def thin_svd(x: np.ndarray, rel_tol: float = RANK_TOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_thin_svd` of ``x``, shared between the measures of a layer."""
    return memo(x, f"thin_svd:{rel_tol}", lambda: _thin_svd(x, rel_tol))


def _thin_svd(x: np.ndarray, rel_tol: float = RANK_TOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(U, s, Vt)``: the thin SVD of a tall ``x`` restricted to its numerical rank, in O(n d²) from the d × d
    Gram matrix, with U re-orthonormalised once (U (U'U)^-1/2, as CholeskyQR2 does) so that it is orthonormal
    to machine precision; 5-25x faster than LAPACK's SVD of an n × d matrix, and what makes the CCA family,
    the regression fit and the eigenspace overlap run on 10^6 nodes in seconds."""
    lam, v = np.linalg.eigh(x.T @ x)
    order = np.argsort(lam)[::-1]
    s = np.sqrt(np.clip(lam[order], 0.0, None))
    keep = s > rel_tol * (s[0] if s.size else 0.0)
    v, s = v[:, order][:, keep], s[keep]
    if s.size == 0:
        return np.zeros((x.shape[0], 0)), s, v.T
    u = (x @ v) / s
    lam2, w = np.linalg.eigh(u.T @ u)
    u = u @ ((w / np.sqrt(np.clip(lam2, 1e-300, None))) @ w.T)
    return u, s, v.T


def pad_to_same_width(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad the narrower representation with constant-zero units (a pruned layer's removed channels)."""
    d = max(x.shape[1], y.shape[1])

    def pad(a: np.ndarray) -> np.ndarray:
        return a if a.shape[1] == d else np.hstack([a, np.zeros((a.shape[0], d - a.shape[1]))])

    return pad(x), pad(y)


class Measure(Metric):
    """A layer metric comparing a variant's layer with the dense model's: subclasses set :attr:`props` and
    implement :meth:`value` (and :meth:`oriented` where :attr:`Properties.oriented` says how)."""

    level = "layer"
    needs_dense = True
    groups: ClassVar[tuple[str, ...]] = (GROUP,)
    props: ClassVar[Properties]

    def value(self, x: np.ndarray, y: np.ndarray) -> float | dict[str, float]:
        """The measure of ``x`` (the variant, float64) against ``y`` (the dense model); a dict adds keys."""
        raise NotImplementedError

    def oriented(self, value: float) -> float | None:
        """The value as a similarity with 1 = identical, where :attr:`Properties.oriented` defines one: the value
        itself when it says so; override for any other form."""
        return value if self.props.oriented.startswith("the value itself") else None

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.props.sampled:
            idx = inputs.node_sample()
            out.update(sample=float(len(idx)), sample_seed=float(inputs.seed))
            x, y = (
                inputs.shared_result(of, f"float64:sample={len(idx)}", lambda a: f64(a[idx]))
                for of in ("variant", "dense")
            )
        else:
            x, y = (inputs.shared_result(of, "float64", f64) for of in ("variant", "dense"))
        got = self.value(x, y)
        extra = dict(got) if isinstance(got, dict) else {"dense": float(got)}
        out.update(extra)
        sim = self.oriented(out["dense"])
        if sim is not None:
            out["similarity"] = float(sim)
        out["oriented"] = out["dense"] if self.props.larger_is_similar else -out["dense"]
        return out


def describe(cls: type[Measure]) -> str:
    """One paragraph stating a measure's properties (used in its docstring and the docs)."""
    p = cls.props
    inv = ", ".join(sorted(p.invariances)) or "none"
    return (
        f"{p.paper}. {p.formula} Range {p.range}; {'larger' if p.larger_is_similar else 'smaller'} = more "
        f"similar; {'symmetric' if p.symmetric else 'not symmetric'}; invariant to: {inv}; "
        f"{'on the node sample' if p.sampled else 'all nodes'}."
        + (f" Oriented similarity: {p.oriented}." if p.oriented else "")
    )
