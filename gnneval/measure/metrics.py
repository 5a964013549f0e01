"""Metric dispatch: which metrics apply, calling each on the dense model's and a variant's outputs, and
checking what they return.  The pipeline and the testing kit (``gnneval.testing.check_metric``) share it."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gnneval.core import defaults
from gnneval.core.contract import Metric, MetricInputs
from gnneval.core.errors import one_line
from gnneval.core.mapped import release_pages
from gnneval.core.problems import current, report
from gnneval.core.records import Problem, ShownColumn

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.records import GraphArrays, VariantOutputs
    from gnneval.core.registry import Registry

KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,63}$")
"""What a metric key may look like: a short identifier (it becomes an HDF5 attribute name)."""


@dataclass(frozen=True)
class MetricSettings:
    """The measure stage's settings: the run-wide inputs every metric gets besides the outputs."""

    seed: int = defaults.SEED
    sample_size: int = defaults.METRIC_SAMPLE  #: ``--metric-sample``
    bootstrap: int = defaults.BOOTSTRAP  #: ``--bootstrap``
    timeout_s: float | None = None  #: ``--plugin-timeout``: seconds one call may take
    node_budget: int = defaults.METRIC_NODES  #: ``--metric-nodes``


@dataclass
class SharedWork:
    """Work shared between metrics (``MetricInputs.shared_result``): the dense model's for the whole run, a
    variant's until its metrics are done."""

    results: dict = field(default_factory=dict)

    def forget_except(self, keep: list) -> None:
        """Drop the shared results of every embedding but ``keep`` (the dense model's, after a variant)."""
        ids = {id(a) for a in keep}
        for key in [k for k, (arr, _v) in self.results.items() if id(arr) not in ids]:
            del self.results[key]


def applicable(cls: type[Metric], task: str, dense: VariantOutputs | None, graph: GraphArrays | None = None) -> bool:
    """Whether ``cls`` runs for a task (and ``graph``'s facts), on the dense model (``dense`` None) or a variant."""
    if cls.needs_dense and dense is None:
        return False
    if cls.requires and not has_required(cls, graph):
        return False
    return cls.tasks is None or task in cls.tasks


def check_values(values: Any, who: str) -> tuple[dict[str, float], list[str]]:
    """``values`` as ``{key: float}`` with what was wrong with it: keys must be short identifiers, values
    finite numbers or ``None`` ("not defined here", stored as NaN).  Bad entries are dropped, never
    converted: the string ``"0.5"`` is a mistake, not a number."""
    if not isinstance(values, dict):
        return {}, [f"{who} returned {type(values).__name__}, not a dict of {{key: number}}"]
    good: dict[str, float] = {}
    bad: list[str] = []
    for key, value in values.items():
        if not isinstance(key, str) or not KEY_RE.match(key):
            bad.append(
                f"{who} returned the key {str(key)[:40]!r}{'...' if len(str(key)) > 40 else ''}: keys are "
                "identifiers of at most 64 letters, digits, '_', '-', '+' or '.'"
            )
        elif value is None:
            good[key] = math.nan
            bad.append(f"{who}: '{key}' is not defined here (None); stored as NaN")
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            bad.append(f"{who} returned {type(value).__name__} {str(value)[:30]!r} for '{key}', not a number; dropped")
        elif not math.isfinite(float(value)):
            good[key] = math.nan
            bad.append(f"{who} returned {float(value)} for '{key}'; stored as NaN")
        else:
            good[key] = float(value)
    return good, bad


def compute_metric(
    metric: Metric,
    graph: GraphArrays,
    outputs: VariantOutputs,
    dense: VariantOutputs | None,
    ms: MetricSettings,
    who: str,
    shared: SharedWork | None = None,
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """One metric on one variant: ``(variant values, {layer: values})``, keys prefixed ``"<name>."``.
    A metric that raises, or returns something malformed, is a problem naming it; the rest is kept."""
    name = type(metric).name or type(metric).__name__
    flat: dict[str, float] = {}
    per_layer: dict[str, dict[str, float]] = {}
    if metric.level == "layer":
        for layer, emb in outputs.embeddings.items():
            dense_emb = dense.embeddings.get(layer) if dense is not None else None
            if metric.needs_dense and dense_emb is None:
                continue
            inputs = MetricInputs(
                graph,
                outputs,
                dense,
                ms.seed,
                layer,
                emb,
                dense_emb,
                ms.sample_size,
                ms.bootstrap,
                shared=shared.results if shared is not None else None,
                node_budget=ms.node_budget,
            )
            vals = _call(metric, inputs, f"{who} on layer '{layer}'", ms.timeout_s)
            per_layer[layer] = {f"{name}.{k}": v for k, v in vals.items()}
            release_pages(dense_emb)  # a memory-mapped dense layer: its pages back before the next layer's
    else:
        inputs = MetricInputs(graph, outputs, dense, ms.seed, sample_size=ms.sample_size, bootstrap=ms.bootstrap,
                              node_budget=ms.node_budget)  # fmt: skip
        flat = {f"{name}.{k}": v for k, v in _call(metric, inputs, who, ms.timeout_s).items()}
        if dense is not None:
            release_pages(dense.logits, *dense.embeddings.values())
    return flat, per_layer


def _call(metric: Metric, inputs: MetricInputs, who: str, timeout_s: float | None = None) -> dict[str, float]:
    from gnneval.core.time_limit import time_limit

    try:
        with time_limit(timeout_s, who):
            raw = metric.compute(inputs)
    except Exception as exc:  # noqa: BLE001 - one metric must not lose the others
        report(who, f"raised {one_line(exc)}")
        return {}
    except SystemExit as exc:
        report(who, f"called sys.exit({exc.code!r}); its values are missing")
        return {}
    good, bad = check_values(raw, "compute()")
    for msg in bad:
        report(who, msg)
    missing = undeclared_intervals(metric, good)
    if missing:
        problem = Problem(
            f"metric '{type(metric).name or type(metric).__name__}'",
            f"returns an interval or spread for {', '.join(map(repr, missing))} without saying how it "
            "was made; declare it in the class attribute intervals = {key: method}",
        )
        log = current()
        if log is None or problem not in log.items:  # said once per run
            report(problem.where, problem.message)
    return good


def declared_intervals(registry: Registry, names: Sequence[str], task: str) -> dict[str, str]:
    """``{"<metric>.<key>": method}`` for the uncertainties the selected metrics declare (``Metric.intervals``)."""
    out = {}
    for name in names:
        cls = registry.get("metric", name).obj
        if cls.tasks is None or task in cls.tasks:
            out.update({f"{name}.{key}": str(method) for key, method in dict(cls.intervals).items()})
    return out


UNCERTAINTY_SUFFIXES = ("_ci_low", "_ci_high", "_sd")


def undeclared_intervals(metric: Metric, values: dict[str, float]) -> list[str]:
    """Keys whose interval or spread ``metric`` returned without declaring its method in ``intervals``."""
    declared = dict(type(metric).intervals)
    bases = {k[: -len(sfx)] for k in values for sfx in UNCERTAINTY_SUFFIXES if k.endswith(sfx)}
    return sorted(b for b in bases if b not in declared)


def declared_columns(
    registry: Registry, names: Sequence[str], task: str, graph: GraphArrays | None = None
) -> list[ShownColumn]:
    """The summary columns the selected metrics declare (``Metric.summary``) for ``task`` (and ``graph``'s facts,
    for metrics that ``require`` some), in order; the columns of dataset-specific metrics (an official
    evaluator's) first, so that their headline is the run's."""
    specific, generic = [], []
    for name in names:
        cls = registry.get("metric", name).obj
        if cls.tasks is not None and task not in cls.tasks:
            continue
        if not has_required(cls, graph):
            continue
        cols = [ShownColumn(f"{name}.{key}", cls.level, col.label, col.format, col.role, col.help)
                for key, col in dict(cls.summary).items()]  # fmt: skip
        (specific if cls.requires else generic).extend(cols)
    return specific + generic


def has_required(cls: type[Metric], graph: GraphArrays | None) -> bool:
    """Whether ``graph`` has every fact ``cls`` requires (``Metric.requires``)."""
    return all(graph is not None and getattr(graph, fact, None) for fact in cls.requires)
