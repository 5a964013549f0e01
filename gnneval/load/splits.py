"""``--split FILE``: the split a model was trained with, instead of the dataset loader's.

The file names the ``train``, ``val`` and ``test`` items — nodes, or graphs for graph classification — as
indices or as boolean masks: a JSON object of lists, a ``.pt`` dict of tensors or lists (loaded
``weights_only``), or a ``.npz`` with those arrays.  The split used and where it came from are printed and stored
with the run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from gnneval.core.contract import GraphData
from gnneval.core.errors import UsageError

SPLITS = ("train", "val", "test")


def _read(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            raw = json.loads(path.read_text())
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                raw = {k: f[k] for k in f.files}
        elif suffix in (".pt", ".pth"):
            import torch

            raw = torch.load(path, weights_only=True, map_location="cpu")
        else:
            raise UsageError(f"--split {path}: give a .json, .pt or .npz file naming train, val and test")
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line
        raise UsageError(f"--split {path} could not be read ({type(exc).__name__}); give a .json object, a .pt "
                         "dict or a .npz with train, val and test") from None  # fmt: skip
    if not isinstance(raw, dict) or not all(k in raw for k in SPLITS):
        raise UsageError(f"--split {path} must hold 'train', 'val' and 'test' (indices or boolean masks)")
    return raw


def _mask(values: Any, items: int, name: str, who: str) -> np.ndarray:
    a = np.asarray(values.numpy() if hasattr(values, "numpy") else values)
    if a.dtype == bool:
        if a.shape != (items,):
            raise UsageError(f"{who}: the '{name}' mask has {a.size} entries; the dataset has {items}")
        return a
    if a.size and (not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= items):
        raise UsageError(f"{who}: '{name}' must be indices in [0, {items}) or a boolean mask")
    mask = np.zeros(items, dtype=bool)
    mask[a.astype(np.int64)] = True
    return mask


def apply_split_file(graph: GraphData, path: Path) -> GraphData:
    """``graph`` with its train/val/test masks from ``path`` (checked: in range, disjoint, test not empty)."""
    if graph.task == "link-prediction":
        raise UsageError("--split names nodes or graphs; a link-prediction split (held-out edges) cannot be given")
    if not path.is_file():
        raise UsageError(f"--split {path} does not exist; give the file of the split the model was trained with")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return _applied(graph, _read(path), f"--split {path}", f"from {path.name} (sha256 {digest})")


def apply_stored_split(graph: GraphData, raw: dict[str, Any], checkpoint: Path) -> GraphData:
    """``graph`` with the train/val/test items its checkpoint records (``LoadedCheckpoint.split``)."""
    if graph.task == "link-prediction":
        return graph
    who = f"the split stored in {checkpoint.name}"
    return _applied(graph, raw, who, f"stored in the checkpoint {checkpoint.name}")


def _applied(graph: GraphData, raw: dict[str, Any], who: str, said: str) -> GraphData:
    """``graph`` with the masks of ``raw`` (checked: in range, disjoint, test not empty; ``who`` names the source
    in an error), its split described as ``said``."""
    import torch

    items = int(graph.data.y.shape[0])
    masks = {name: _mask(values, items, name, who) for name, values in raw.items() if name in SPLITS}
    for a, b in (("train", "test"), ("train", "val"), ("val", "test")):
        if (masks[a] & masks[b]).any():
            raise UsageError(f"{who}: {int((masks[a] & masks[b]).sum())} items are in both '{a}' and '{b}'")
    if not masks["test"].any():
        raise UsageError(f"{who}: the 'test' split is empty")
    data = graph.data.clone()
    for name, mask in masks.items():
        setattr(data, f"{name}_mask", torch.from_numpy(mask))
    counts = "/".join(f"{int(masks[s].sum())}" for s in SPLITS)
    return replace(graph, data=data, split=f"{said}, train/val/test {counts}")
