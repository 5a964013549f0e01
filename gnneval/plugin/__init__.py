"""gnneval's plugin API: the one import path for plugin authors.

Everything a plugin needs is importable from here, and nothing else in gnneval is public::

    from gnneval.plugin import Pruner, PruneContext, PruneOutcome, hookimpl, prunable_weights

A plugin is a module with functions marked ``@hookimpl`` named after the hook specifications in
:mod:`gnneval.plugin.hookspecs`, published through the ``gnneval`` entry-point group (see
docs/plugins.md).  The API has its own version, :data:`API_VERSION`; :func:`require_api` lets a
plugin refuse to load into a gnneval it was not written for.

The types (base classes, contexts, records, errors) load at once; the helpers that work on models
(``prunable_weights``, ``train``, ``save_figure``...) are imported on first use, so that importing
this package stays fast and does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gnneval.plugin.api import (
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
    VisualContext,
    Visualiser,
    hookimpl,
    require_api,
)
from gnneval.plugin.errors import GnnevalError, PluginError, UnsupportedModelError, UsageError, one_line, suggest
from gnneval.plugin.registers import (
    ArchitectureRegister,
    CheckpointLoaderRegister,
    DatasetLoaderRegister,
    MetricRegister,
    PrunerRegister,
    VisualiserRegister,
)
from gnneval.store.records import (
    BenchResult,
    Column,
    GraphArrays,
    Problem,
    Provenance,
    RunResult,
    ShownColumn,
    VariantOutputs,
    VariantResult,
)

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.load.checkpoint import NotATorchFile, torch_load
    from gnneval.load.datasets import disjoint_union, find_raw_dir, link_split, stage_raw_files
    from gnneval.load.limits import check_declared_sizes, check_total
    from gnneval.measure.counting import HIST_EDGES, count_flops, prunable_weights
    from gnneval.measure.forward import message_passing_layers, model_inputs
    from gnneval.measure.numeric import (
        PERCENTILE_BOOTSTRAP,
        bootstrap_ci,
        cosine_knn,
        edge_chunks,
        l2_normalise,
        neighbour_jaccard,
        with_ci,
    )
    from gnneval.prune.channels import ChannelGroup, ChannelPruner
    from gnneval.prune.masks import prune_by_scores, smallest_k_mask
    from gnneval.prune.module_sizes import sync_sizes
    from gnneval.prune.training import TrainResult, apply_masks, reinitialise, step_flops, task_loss, train
    from gnneval.show.forked import map_in_processes
    from gnneval.show.jit_cache import import_cached
    from gnneval.show.plots import DENSE_COLOUR, OKABE_ITO, class_colours, procrustes_align, pruner_colour, save_figure

_HELPERS: dict[str, str] = {
    # checkpoints and datasets
    "torch_load": "gnneval.load.checkpoint",
    "check_declared_sizes": "gnneval.load.limits",
    "check_total": "gnneval.load.limits",
    "NotATorchFile": "gnneval.load.checkpoint",
    "find_raw_dir": "gnneval.load.datasets",
    "stage_raw_files": "gnneval.load.datasets",
    "link_split": "gnneval.load.datasets",
    "disjoint_union": "gnneval.load.datasets",
    # models: weights, inputs, counting
    "prunable_weights": "gnneval.measure.counting",
    "count_flops": "gnneval.measure.counting",
    "HIST_EDGES": "gnneval.measure.counting",
    "model_inputs": "gnneval.measure.forward",
    "message_passing_layers": "gnneval.measure.forward",
    # pruning and training
    "prune_by_scores": "gnneval.prune.masks",
    "smallest_k_mask": "gnneval.prune.masks",
    "ChannelPruner": "gnneval.prune.channels",
    "ChannelGroup": "gnneval.prune.channels",
    "sync_sizes": "gnneval.prune.module_sizes",
    "train": "gnneval.prune.training",
    "TrainResult": "gnneval.prune.training",
    "task_loss": "gnneval.prune.training",
    "apply_masks": "gnneval.prune.training",
    "reinitialise": "gnneval.prune.training",
    "step_flops": "gnneval.prune.training",
    # metrics
    "bootstrap_ci": "gnneval.measure.numeric",
    "with_ci": "gnneval.measure.numeric",
    "PERCENTILE_BOOTSTRAP": "gnneval.measure.numeric",
    "edge_chunks": "gnneval.measure.numeric",
    "l2_normalise": "gnneval.measure.numeric",
    "cosine_knn": "gnneval.measure.numeric",
    "neighbour_jaccard": "gnneval.measure.numeric",
    # pictures
    "import_cached": "gnneval.show.jit_cache",
    "map_in_processes": "gnneval.show.forked",
    "save_figure": "gnneval.show.plots",
    "pruner_colour": "gnneval.show.plots",
    "class_colours": "gnneval.show.plots",
    "procrustes_align": "gnneval.show.plots",
    "OKABE_ITO": "gnneval.show.plots",
    "DENSE_COLOUR": "gnneval.show.plots",
}


def __getattr__(name: str) -> Any:
    """Import a helper on first use (PEP 562)."""
    module = _HELPERS.get(name)
    if module is None:
        raise AttributeError(f"module 'gnneval.plugin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    # result records
    "RunResult",
    "VariantResult",
    "VariantOutputs",
    "BenchResult",
    "GraphArrays",
    "Provenance",
    "Problem",
    "ShownColumn",
    "TrainResult",
    # errors
    "GnnevalError",
    "UsageError",
    "PluginError",
    "UnsupportedModelError",
    "NotATorchFile",
    "one_line",
    "suggest",
    # helpers (imported on first use)
    "check_declared_sizes",
    "check_total",
    "torch_load",
    "find_raw_dir",
    "stage_raw_files",
    "link_split",
    "disjoint_union",
    "prunable_weights",
    "count_flops",
    "HIST_EDGES",
    "model_inputs",
    "message_passing_layers",
    "prune_by_scores",
    "smallest_k_mask",
    "sync_sizes",
    "train",
    "task_loss",
    "apply_masks",
    "reinitialise",
    "step_flops",
    "bootstrap_ci",
    "with_ci",
    "PERCENTILE_BOOTSTRAP",
    "edge_chunks",
    "l2_normalise",
    "cosine_knn",
    "neighbour_jaccard",
    "import_cached",
    "map_in_processes",
    "save_figure",
    "pruner_colour",
    "class_colours",
    "procrustes_align",
    "OKABE_ITO",
    "DENSE_COLOUR",
]
