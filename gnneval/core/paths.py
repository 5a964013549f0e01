"""Where gnneval keeps what it may write without asking: its per-user cache."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """The per-user cache (``$XDG_CACHE_HOME/gnneval`` on Linux), overridable by ``GNNEVAL_CACHE``."""
    env = os.environ.get("GNNEVAL_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("gnneval"))
