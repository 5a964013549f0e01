"""Writing native checkpoints: the format :mod:`gnneval.load.checkpoint` reads (plain data and tensors only,
loadable with ``torch.load(path, weights_only=True)``)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gnneval.core.contract import DatasetRef
from gnneval.load.checkpoint import FORMAT, library_versions

if TYPE_CHECKING:  # pragma: no cover
    import torch


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: torch.nn.Module,
    architecture: str,
    architecture_kwargs: dict[str, Any],
    task: str,
    dataset: DatasetRef,
    metrics: dict[str, float],
    training: dict[str, Any],
    masks: dict[str, torch.Tensor] | None = None,
    pruning: dict[str, Any] | None = None,
    model_class: dict[str, str] | None = None,
) -> Path:
    """Write a native checkpoint atomically and return its path.

    With ``pruning`` (what produced this variant) the file is format version 2: sparse tensors are
    stored compressed and ``masks`` are kept (packed); a model whose channels were removed is rebuilt from
    the shapes of its stored tensors."""
    import torch

    from gnneval.load.sparse_tensors import encode, pack_bits

    path = Path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "format_version": 2 if pruning is not None else 1,
        "architecture": {
            "name": architecture,
            "kwargs": _plain(dict(architecture_kwargs)),
            **({"class": dict(model_class)} if model_class else {}),
        },
        "state_dict": {k: encode(v) for k, v in state.items()} if pruning is not None else state,
        "task": task,
        "dataset": {
            "name": dataset.name,
            "loader": dataset.loader,
            "split": dataset.split,
            "options": dict(dataset.options),
            "transform": dataset.transform,
        },
        "metrics": {k: float(v) for k, v in metrics.items()},
        "training": _plain(dict(training)),
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if pruning is not None:
        payload["pruning"] = _plain(pruning)
        payload["masks"] = {k: pack_bits(m.bool()) for k, m in (masks or {}).items()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def _plain(obj: Any) -> Any:
    """``obj`` with only weights_only-loadable values (str, int, float, bool, None, lists and dicts)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    try:
        return float(obj)
    except (TypeError, ValueError):
        return str(obj)
