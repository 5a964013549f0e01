"""What the built-in trackers share: the library check, the run's parameters as flat strings, and the
series each tracker logs (one per pruner, the sparsity asked for as the step, the dense model at step 0)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import Any

from gnneval.plugin import RunResult, UsageError, VariantResult
from gnneval.plugin.helpers import sparsity_step, tracked_scalars


def require(module: str, tracker: str, extra: str) -> None:
    """A one-line UsageError naming what to install when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise UsageError(f"--track {tracker} needs the {module} package, which is not installed: "
                         f"pip install 'gnneval[{extra}]'")  # fmt: skip


def flat_params(settings: dict[str, Any], limit: int = 500) -> dict[str, str]:
    """Every setting as a string parameter (lists and dicts as JSON), cut to ``limit`` characters."""
    out = {}
    for key, value in settings.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        out[key] = text if len(text) <= limit else text[: limit - 3] + "..."
    return out


def series(run: RunResult, v: VariantResult) -> Iterator[tuple[str, int, dict[str, float]]]:
    """(pruner, step, scalars) for one variant: a pruned one in its pruner's series, the dense model at step 0
    of every pruner's series (each curve starts at the model it prunes)."""
    if not v.ok:
        return
    scalars = tracked_scalars(run, v)
    pruners = [v.pruner] if v.pruner else list(run.provenance.settings.get("pruners") or [])
    for pruner in pruners:
        yield str(pruner), sparsity_step(v.sparsity), scalars


def repeated_rows(result: RunResult) -> Iterator[tuple[str, int, dict[str, float]]]:
    """The summarised rows of ``--seeds`` repeats (not logged one by one): mean and ``<key>_sd`` per scalar."""
    summary = result.summarised()
    layer = summary.shown_layer()
    for v in summary.variants:
        if not v.spread or not v.ok or not v.pruner:
            continue
        scalars = tracked_scalars(summary, v)
        for key, s in v.spread.items():
            name = f"layer.{key.split('/', 1)[1]}" if "/" in key else key
            if "/" in key and key.split("/", 1)[0] != layer:
                continue
            if s.n > 1:
                scalars[f"{name}_sd"] = float(s.sd)
        yield v.pruner, sparsity_step(v.sparsity), scalars
