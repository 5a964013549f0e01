"""Imports only where used.

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
import sys

HIDDEN = {"numba": ("torch_geometric",)}  #: module -> packages whose optional import of it is refused


class _OptionalImportFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # noqa: ANN001 - the importlib protocol
        importers = HIDDEN.get(name.split(".")[0])
        if not importers:
            return None
        frame = sys._getframe(1)
        while frame is not None:
            caller = frame.f_globals.get("__name__", "")
            if caller.startswith(importers) and not caller.startswith("importlib"):
                raise ModuleNotFoundError(f"{name} is not imported for {caller} by gnneval (see gnneval._lazy_imports)",
                                          name=name)
            if not caller.startswith(("importlib", "gnneval._lazy_imports")) and caller != "_frozen_importlib":
                return None  # the nearest real importer is someone else: import normally
            frame = frame.f_back
        return None


def hide_optional() -> None:
    """Install the finder once (first in ``sys.meta_path``)."""
    if not any(isinstance(f, _OptionalImportFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _OptionalImportFinder())

