"""Memory-mapped arrays' pages given back to the file (:mod:`gnneval.store.spilled` keeps the dense model's
outputs memory-mapped at scale).  A mapped array's pages count in the process's resident memory once read; the
metrics read one layer at a time, so each layer's are given back when its metrics are done (at ogbn-products'
size 1.2 GiB resident at most, not the whole 2.7 GiB)."""

from __future__ import annotations

import mmap
from typing import Any


def release_pages(*arrays: Any) -> None:
    """Give back the pages this process has read of those ``arrays`` that are memory-mapped (``numpy.load(...,
    mmap_mode="r")``); the file keeps them, and the next read brings them in again.  Others are left alone."""
    if not hasattr(mmap, "MADV_DONTNEED"):
        return
    for a in arrays:
        m = getattr(a, "_mmap", None)
        if isinstance(m, mmap.mmap):
            m.madvise(mmap.MADV_DONTNEED)
