"""Process-wide set-up made before heavy imports: optional imports hidden, numba's threading layer, threads.

**Imports only where used.**

torch_geometric imports numba at start-up whenever it is installed (``torch_geometric.utils.ppr`` and
``loader.ibmb_loader`` keep a module-level ``import numba`` for functions gnneval never calls), which costs
about 0.5 s and numba's initialisation on every run.  :func:`hide_optional` installs an import finder that
answers torch_geometric's *optional* ``import numba`` with "not installed" (torch_geometric then disables
only those two functions); every other importer — the UMAP visualiser through umap-learn — gets numba as
usual.  A lazy module would not do: ``inspect.getmodule``, which torch calls while registering operators,
touches every module in ``sys.modules`` and would load it anyway.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
from types import FrameType

HIDDEN = {"numba": ("torch_geometric",)}  #: module -> packages whose optional import of it is refused


class _OptionalImportFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object, target: object = None) -> None:
        importers = HIDDEN.get(name.split(".")[0])
        if not importers:
            return None
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            caller = frame.f_globals.get("__name__", "")
            if caller.startswith(importers) and not caller.startswith("importlib"):
                raise ModuleNotFoundError(
                    f"{name} is not imported for {caller} by gnneval (see gnneval.core.process)", name=name
                )
            if not caller.startswith(("importlib", "gnneval.core.process")) and caller != "_frozen_importlib":
                return None  # the nearest real importer is someone else: import normally
            frame = frame.f_back
        return None


def hide_optional() -> None:
    """Install the finder once (first in ``sys.meta_path``)."""
    if not any(isinstance(f, _OptionalImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _OptionalImportFinder())


THREADS_ENV = "GNNEVAL_THREADS"
"""Threads for PyTorch and how many pictures draw at once; ``gnneval batch`` sets it for each worker process."""


def threads_from_env() -> int | None:
    """``$GNNEVAL_THREADS`` as a positive count, or None when it is unset or not a number."""
    try:
        return max(1, int(os.environ[THREADS_ENV]))
    except (KeyError, ValueError):
        return None


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def forksafe_numba() -> None:
    """Make numba choose a fork-safe threading layer (its ``workqueue``, not GNU OpenMP, whose numba layer
    kills every child forked after it started): set before numba starts its threads, a process that ran
    umap-learn can still share work among forked children.  ``$NUMBA_THREADING_LAYER`` set by the user wins."""
    os.environ.setdefault("NUMBA_THREADING_LAYER", "forksafe")
    numba = sys.modules.get("numba")
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if (
        numba is not None
        and not getattr(parallel, "_is_initialized", False)
        and str(numba.config.THREADING_LAYER).lower() == "default"
    ):
        numba.config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]
