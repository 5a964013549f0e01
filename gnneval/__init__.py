"""gnneval: what does pruning this graph neural network do to it?

The public API is :func:`gnneval.read_run` (a stored run as typed records, a tidy table and embeddings),
:mod:`gnneval.plugin` (for plugin authors), :mod:`gnneval.testing` (their pytest kit) and the ``gnneval``
command.  The packages beside them are the pipeline's stages, in order —
``load`` → ``prune`` → ``measure`` / ``bench`` → ``store`` → ``show``, driven by ``run`` — and may
change in any release; ``_plugins`` is the plugin machinery and ``builtin`` the plugins gnneval ships.

The package is importable without torch; heavy libraries are imported by the modules that need them,
so ``gnneval --help`` and ``gnneval plugins`` answer at once.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version as _version
from types import ModuleType

try:
    __version__ = _version("gnneval")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

MOVED_MODULES = {
    "gnneval.accounting": "gnneval.model.counting",
    "gnneval.forward": "gnneval.model.forward",
    "gnneval.training": "gnneval.prune.training",
    "gnneval.module_sizes": "gnneval.prune.module_sizes",
    "gnneval.checkpoint": "gnneval.load.checkpoint",
    "gnneval.datasets": "gnneval.load.datasets",
    "gnneval.errors": "gnneval.core.errors",
    "gnneval.hookspecs": "gnneval.core.hookspecs",
    "gnneval.plotting": "gnneval.show.plots",
    "gnneval.results": "gnneval.core.records",
    "gnneval.storage": "gnneval.store.hdf5",
    "gnneval.manager": "gnneval._plugins.manager",
    "gnneval.registry": "gnneval.core.registry",
    "gnneval.pipeline": "gnneval.run.evaluate",
    "gnneval.builtin.structured": "gnneval.prune.channels",
    "gnneval.builtin.sbm": "gnneval.builtin.datasets.synthetic",
    # moved in plugin API 1.1 (the bottom layer, gnneval.core; gnneval.plugin only re-exports)
    "gnneval.plugin.api": "gnneval.core.contract",
    "gnneval.plugin.errors": "gnneval.core.errors",
    "gnneval.plugin.hookspecs": "gnneval.core.hookspecs",
    "gnneval.plugin.registers": "gnneval.core.registers",
    "gnneval.store.records": "gnneval.core.records",
    "gnneval.store.sparse_tensors": "gnneval.load.sparse_tensors",
    "gnneval._plugins.registry": "gnneval.core.registry",
    "gnneval.measure.forward": "gnneval.model.forward",
    "gnneval.measure.counting": "gnneval.model.counting",
    "gnneval.load.limits": "gnneval.core.limits",
}
"""Modules that moved (in plugin API 1.0 and 1.1): importing the old name still works (it is the new module)
and warns with DeprecationWarning naming the import to use instead.  They go in plugin API 2.0."""


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves an old module name with the module that replaced it, warning once per import."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED_MODULES[spec.name]
        warnings.warn(
            f"{spec.name} is deprecated: import from gnneval.plugin or gnneval.plugin.helpers "
            f"(the module moved to {new}, which is internal)",
            DeprecationWarning,
            stacklevel=3,
        )
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module is imported already."""


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())

PUBLIC = {"read_run": "gnneval.store.stored_run", "StoredRun": "gnneval.store.stored_run"}
"""The Python API for results, imported when first used (``import gnneval`` stays light):
``gnneval.read_run(path)`` -> :class:`~gnneval.store.stored_run.StoredRun`."""


def __getattr__(name: str) -> object:
    if name in PUBLIC:
        return getattr(importlib.import_module(PUBLIC[name]), name)
    raise AttributeError(f"module 'gnneval' has no attribute {name!r}")


__all__ = ["StoredRun", "__version__", "read_run"]
