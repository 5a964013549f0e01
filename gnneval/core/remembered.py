"""Small facts gnneval remembers between runs on one machine (which ONNX exporter worked for a model class,
how long each visualiser took): one JSON object per file in gnneval's cache directory.  Best effort: a cache
that cannot be read or written only costs time, never a result."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def remembered_file(name: str) -> Path:
    """``<cache>/<name>.json`` (the cache is ``$GNNEVAL_CACHE`` or the per-user cache directory)."""
    from gnneval.core.paths import default_cache_dir

    return default_cache_dir() / f"{name}.json"


def recall(name: str) -> dict[str, Any]:
    """Everything remembered under ``name``; empty when nothing is (or the file is unreadable)."""
    try:
        known = json.loads(remembered_file(name).read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def remember(name: str, updates: dict[str, Any]) -> None:
    """Merge ``updates`` into what is remembered under ``name`` (written atomically; nothing if unchanged)."""
    known = recall(name)
    if all(known.get(k) == v for k, v in updates.items()):
        return
    path = remembered_file(name)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({**known, **updates}, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except (OSError, ValueError):
        tmp.unlink(missing_ok=True)
