"""A stored run as one tidy long table: one row per (variant, layer or run level, metric) with its value and,
where the metric reports them, its interval, the interval's method and its number of items — what ``gnneval
show RUN --format csv|json|markdown`` prints (the columns are documented in docs/run-file.md)."""

from __future__ import annotations

import math
from typing import Any

from gnneval.core.records import RunResult, VariantResult

COLUMNS = ("variant", "pruner", "sparsity", "sparsity_reached", "seed", "layer", "metric", "value", "ci_low",
           "ci_high", "interval", "n")  # fmt: skip
"""The tidy table's columns, in order."""

_DERIVED = ("_ci_low", "_ci_high", "_n")
COUNTS = ("params", "nonzero_params", "size_bytes", "flops", "flops_sparse", "training_flops", "edges")


def _metric_rows(values: dict[str, float], intervals: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for key, value in values.items():
        if key.endswith(_DERIVED):
            continue
        lo, hi, n = (values.get(key + suffix) for suffix in _DERIVED)
        rows.append({"metric": key, "value": value, "ci_low": lo, "ci_high": hi,
                     "interval": intervals.get(key, "") if lo is not None else "", "n": n})  # fmt: skip
    return rows


def _bench_rows(v: VariantResult) -> list[dict[str, Any]]:
    rows = []
    for b in v.bench:
        if b.status != "ok":
            continue
        where = f"bench.{b.backend}.{b.device}"
        rows.append({"metric": f"{where}.median_ms", "value": b.median_ms, "ci_low": None, "ci_high": None,
                     "interval": "", "n": float(b.runs)})  # fmt: skip
        if b.paired_runs:
            rows.append({"metric": f"{where}.speedup", "value": b.speedup, "ci_low": b.speedup_ci_low,
                         "ci_high": b.speedup_ci_high, "interval": "order statistics of the paired ratios",
                         "n": float(b.paired_runs)})  # fmt: skip
    return rows


def tidy_rows(run: RunResult) -> list[dict[str, Any]]:
    """Every number of the run, one row each (NaN values kept as None)."""
    seed = run.provenance.seed
    out = []
    for v in run.variants:
        if not v.ok:
            continue
        base = {"variant": v.group, "pruner": v.pruner or "", "sparsity": v.sparsity,  # --seeds: a row per repeat
                "sparsity_reached": v.weight_sparsity, "seed": seed if v.seed is None else v.seed}  # fmt: skip
        rows = [{"layer": "", **r} for r in _metric_rows(v.metrics, run.intervals)]
        rows += [{"layer": "", "metric": f"count.{c}", "value": float(getattr(v, c)), "ci_low": None,
                  "ci_high": None, "interval": "", "n": None} for c in COUNTS]  # fmt: skip
        rows += [{"layer": "", **r} for r in _bench_rows(v)]
        for layer, values in v.layer_metrics.items():
            rows += [{"layer": layer, **r} for r in _metric_rows(values, run.intervals)]
        out += [{**base, **r} for r in rows]
    for row in out:
        for k in ("value", "ci_low", "ci_high", "n"):
            if isinstance(row[k], float) and not math.isfinite(row[k]):
                row[k] = None
    return [{c: row.get(c) for c in COLUMNS} for row in out]


def sparsity_step(sparsity: float) -> int:
    """The step a tracker logs a variant at: the sparsity asked for, in percent (the dense model: 0)."""
    return int(round(100 * sparsity))


def tracked_scalars(run: RunResult, v: VariantResult) -> dict[str, float]:
    """The numbers of one variant a tracker logs as scalars: its run-level metrics (intervals included),
    the shown layer's metrics as ``layer.<metric>``, ``sparsity_reached``, the counts as ``count.<name>`` and the
    paired speed-ups as ``bench.<backend>.<device>.speedup``; NaN left out."""
    out = {k: v.metrics[k] for k in v.metrics}
    layer = run.shown_layer()
    if layer is not None:
        out.update({f"layer.{k}": val for k, val in v.layer_metrics.get(layer, {}).items()})
    out["sparsity_reached"] = v.weight_sparsity
    out.update({f"count.{c}": float(getattr(v, c)) for c in COUNTS})
    out.update({r["metric"]: r["value"] for r in _bench_rows(v) if r["metric"].endswith(".speedup")})
    return {k: float(x) for k, x in out.items() if x is not None and math.isfinite(x)}
