"""Representational similarity measures, by family (the ReSi benchmark's set, Klabunde et al. ICLR 2025):

- :mod:`.cca`: mean CCA, SVCCA, PWCCA;
- :mod:`.alignment`: Procrustes size-and-shape, angular shape metric, permutation Procrustes, aligned cosine,
  linear-regression fit (the normalised orthogonal Procrustes distance is the ``procrustes`` metric);
- :mod:`.rsm`: RSA, RSM norm difference, distance correlation, debiased CKA, eigenspace overlap, GULP;
- :mod:`.neighbourhood`: second-order cosine, rank similarity, joint rank-Jaccard (k-NN Jaccard is
  ``knn-overlap``);
- :mod:`.statistics`: magnitude, concentricity and uniformity differences;
- :mod:`.functional`: output Jensen–Shannon divergence, absolute accuracy difference.

Every measure is opt-in (``--metrics +svcca``) or all at once with ``--metrics +similarity-all``.  Topology
measures (RTD, IMD, geometry score) are not here: see docs/similarity.md for why.
"""

from __future__ import annotations

from gnneval.builtin.metrics.repsim import alignment, cca, functional, neighbourhood, rsm, statistics
from gnneval.builtin.metrics.repsim.base import Measure, describe
from gnneval.plugin import hookimpl

FAMILIES = (cca, alignment, rsm, neighbourhood, statistics)
LAYER_MEASURES: dict[str, type[Measure]] = {name: cls for mod in FAMILIES for name, cls in mod.MEASURES.items()}

for _cls in LAYER_MEASURES.values():
    _cls.__doc__ = describe(_cls)


@hookimpl
def gnneval_register_metrics(register):
    for name, cls in LAYER_MEASURES.items():
        register.add_metric(name, cls, description=f"{cls.props.family}: {cls.props.paper}", default=False)
    for name, fcls in functional.MEASURES.items():
        register.add_metric(
            name, fcls, description=f"functional: {(fcls.__doc__ or '').split('(')[0].strip()}", default=False
        )


def measures_markdown() -> str:
    """The measures' table for docs/similarity.md, from their declared properties (a test keeps it current)."""
    lines = [
        "| metric | family | range | more similar | symmetric | invariant to | nodes | paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, cls in LAYER_MEASURES.items():
        p = cls.props
        lines.append(
            f"| `{name}` | {p.family} | {p.range} | {'larger' if p.larger_is_similar else 'smaller'} | "
            f"{'yes' if p.symmetric else 'no'} | {', '.join(sorted(p.invariances)) or 'none'} | "
            f"{'node sample' if p.sampled else 'all'} | {p.paper} |"
        )
    lines += ["", "Formulas, as computed:", ""]
    lines += [
        f"- `{name}`: {cls.props.formula}"
        + (f" Oriented similarity: {cls.props.oriented}." if cls.props.oriented else "")
        for name, cls in LAYER_MEASURES.items()
    ]
    return "\n".join(lines)
