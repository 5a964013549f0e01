"""gnneval's plugin API, part 1: **the contract** — the one import path for what a plugin implements and
is handed.

::

    from gnneval.plugin import Pruner, PruneContext, PruneOutcome, hookimpl
    from gnneval.plugin.helpers import prunable_weights      # part 2: the toolbox

Here: the hook marker and the API version, the base classes (:class:`Pruner`, :class:`Metric`...), the
contexts plugins are given, the records they return or read, the ``register`` objects of the
``gnneval_register_*`` hooks, and the errors.  :mod:`gnneval.plugin.helpers` holds the functions that work
on models, graphs and pictures.  Both only re-export: the definitions live in ``gnneval.core`` (and
:class:`ChannelPruner` in ``gnneval.prune.channels``), which may move in any release — import from here.

A plugin is a module with functions marked ``@hookimpl`` named after the hook specifications (see
docs/hooks.md), published through the ``gnneval`` entry-point group (docs/plugins.md).  The API has its own
version, :data:`API_VERSION`; :func:`require_api` lets a plugin refuse to load into a gnneval it was not
written for.  Importing this package does not import torch.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from gnneval.core.contract import (
    API_VERSION,
    TASKS,
    CheckpointLoader,
    DatasetContext,
    DatasetLoader,
    DatasetRef,
    GraphData,
    Level,
    LoadContext,
    LoadedCheckpoint,
    Metric,
    MetricInputs,
    PruneContext,
    PruneOutcome,
    Pruner,
    RunInfo,
    Status,
    Task,
    Tracker,
    VisualContext,
    Visualiser,
    hookimpl,
    require_api,
)
from gnneval.core.errors import GnnevalError, NotATorchFile, PluginError, UnsupportedModelError, UsageError
from gnneval.core.records import (
    BenchResult,
    Column,
    GraphArrays,
    Problem,
    Provenance,
    RunResult,
    ShownColumn,
    Spread,
    VariantOutputs,
    VariantResult,
)
from gnneval.core.registers import (
    ArchitectureRegister,
    CheckpointLoaderRegister,
    DatasetLoaderRegister,
    MetricRegister,
    PrunerRegister,
    TrackerRegister,
    VisualiserRegister,
)

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.prune.channels import ChannelGroup, ChannelPruner

_LAZY = {"ChannelPruner": "gnneval.prune.channels", "ChannelGroup": "gnneval.prune.channels"}
"""Contract names whose module imports torch: imported on first use."""


def __getattr__(name: str) -> Any:
    """``ChannelPruner`` / ``ChannelGroup`` on first use; a toolbox name still works here, with a warning."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    helpers = importlib.import_module("gnneval.plugin.helpers")
    if name == "helpers":
        return helpers
    if name in helpers.__all__:
        warnings.warn(
            f"gnneval.plugin.{name} is deprecated since plugin API 1.1: import it from gnneval.plugin.helpers",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(helpers, name)
    raise AttributeError(f"module 'gnneval.plugin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    # version and marker
    "API_VERSION",
    "require_api",
    "hookimpl",
    "TASKS",
    "Task",
    "Level",
    "Status",
    # base classes
    "CheckpointLoader",
    "DatasetLoader",
    "Pruner",
    "ChannelPruner",
    "Metric",
    "Visualiser",
    "Tracker",
    # what plugins are given and return
    "LoadContext",
    "LoadedCheckpoint",
    "DatasetContext",
    "DatasetRef",
    "GraphData",
    "PruneContext",
    "PruneOutcome",
    "MetricInputs",
    "VisualContext",
    "RunInfo",
    "ChannelGroup",
    "Column",
    # register objects
    "ArchitectureRegister",
    "CheckpointLoaderRegister",
    "DatasetLoaderRegister",
    "PrunerRegister",
    "MetricRegister",
    "VisualiserRegister",
    "TrackerRegister",
    # result records
    "RunResult",
    "VariantResult",
    "Spread",
    "VariantOutputs",
    "BenchResult",
    "GraphArrays",
    "Provenance",
    "Problem",
    "ShownColumn",
    # errors
    "GnnevalError",
    "UsageError",
    "PluginError",
    "UnsupportedModelError",
    "NotATorchFile",
]
