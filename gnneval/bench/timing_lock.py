"""One timing at a time on a machine: ``gnneval batch --jobs N`` evaluates in parallel, but each run's
timing phase holds this lock, so no two checkpoints are timed at once and a leaderboard's speed-ups come
from an otherwise idle set of cores.  The lock is the operating system's (``fcntl.flock``): a killed
process never leaves it held."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def lock_path() -> Path:
    """``$GNNEVAL_TIMING_LOCK``, else a file in gnneval's cache directory (shared by the user's runs)."""
    from gnneval.core.paths import default_cache_dir

    return Path(os.environ.get("GNNEVAL_TIMING_LOCK") or default_cache_dir() / "timing.lock")


@contextmanager
def timing_slot() -> Iterator[float]:
    """Hold the machine's timing lock for the block; yields the seconds spent waiting for it."""
    import fcntl

    path = lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    t0 = time.perf_counter()
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield time.perf_counter() - t0
    finally:
        os.close(fd)
