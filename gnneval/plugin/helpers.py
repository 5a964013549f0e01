"""gnneval's plugin API, part 2: **the toolbox** — functions and constants that work on checkpoints, models,
graphs, metrics and pictures, so that a plugin does what the built-ins do the same way.

::

    from gnneval.plugin.helpers import prunable_weights, train, save_figure

Every name is listed once, in :data:`HELPERS` (name -> where it is defined); each is imported on first use,
so importing this module stays fast and does not import torch.  The ``TYPE_CHECKING`` block below is
generated from that table (``python -m gnneval._plugins.hookdoc --helpers``; a test keeps it current) so
that type checkers see every helper's real signature.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

HELPERS: dict[str, str] = {
    # errors and messages
    "one_line": "gnneval.core.errors",
    "suggest": "gnneval.core.errors",
    # checkpoints: safe loading, declared sizes, the native format
    "import_code": "gnneval.load.user_code",
    "torch_load": "gnneval.load.checkpoint",
    "check_declared_sizes": "gnneval.core.limits",
    "check_total": "gnneval.core.limits",
    "NATIVE_FORMAT": "gnneval.load.checkpoint:FORMAT",
    "NATIVE_FORMAT_VERSION": "gnneval.load.checkpoint:FORMAT_VERSION",
    "declared_size": "gnneval.load.sparse_tensors",
    "decode_tensor": "gnneval.load.sparse_tensors:decode",
    "unpack_bits": "gnneval.load.sparse_tensors",
    # datasets
    "find_raw_dir": "gnneval.load.datasets",
    "stage_raw_files": "gnneval.load.datasets",
    "link_split": "gnneval.load.datasets",
    "disjoint_union": "gnneval.load.datasets",
    "stage_tree": "gnneval.load.datasets",
    "node_split": "gnneval.load.datasets",
    "official_masks": "gnneval.load.datasets",
    # models: weights, inputs, layers, counting
    "prunable_weights": "gnneval.model.counting",
    "count_flops": "gnneval.model.counting",
    "HIST_EDGES": "gnneval.model.counting",
    "model_inputs": "gnneval.model.forward",
    "message_passing_layers": "gnneval.model.forward",
    # pruning and training
    "prune_by_scores": "gnneval.prune.masks",
    "smallest_k_mask": "gnneval.prune.masks",
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
    "aligned_residual": "gnneval.measure.numeric",
    "column_mean": "gnneval.measure.numeric",
    "centred_chunks": "gnneval.measure.numeric",
    "row_chunks": "gnneval.measure.numeric",
    "squared_norm": "gnneval.measure.numeric",
    "graph_means": "gnneval.measure.numeric",
    # pictures
    "import_cached": "gnneval.show.jit_cache",
    "map_in_processes": "gnneval.show.forked",
    "umap_layout": "gnneval.show.layouts",
    "aligned_layouts": "gnneval.show.layouts",
    "save_figure": "gnneval.show.plots",
    "pruner_colour": "gnneval.show.plots",
    "draw_spread": "gnneval.show.plots",
    "tracked_scalars": "gnneval.store.tidy",
    "drawn_items": "gnneval.store.stored_rows",
    "rows_at": "gnneval.store.stored_rows",
    "sparsity_step": "gnneval.store.tidy",
    "class_colours": "gnneval.show.plots",
    "procrustes_align": "gnneval.show.plots",
    "OKABE_ITO": "gnneval.show.plots",
    "DENSE_COLOUR": "gnneval.show.plots",
}
"""Every helper: its public name -> ``module`` (same name there) or ``module:name``."""

# --- generated from HELPERS: do not edit (python -m gnneval._plugins.hookdoc --helpers) ---
if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.errors import (
        one_line,
        suggest,
    )
    from gnneval.core.limits import (
        check_declared_sizes,
        check_total,
    )
    from gnneval.load.checkpoint import (
        FORMAT as NATIVE_FORMAT,
        FORMAT_VERSION as NATIVE_FORMAT_VERSION,
        torch_load,
    )
    from gnneval.load.datasets import (
        disjoint_union,
        find_raw_dir,
        link_split,
        node_split,
        official_masks,
        stage_raw_files,
        stage_tree,
    )
    from gnneval.load.sparse_tensors import (
        declared_size,
        decode as decode_tensor,
        unpack_bits,
    )
    from gnneval.load.user_code import (
        import_code,
    )
    from gnneval.measure.numeric import (
        PERCENTILE_BOOTSTRAP,
        aligned_residual,
        bootstrap_ci,
        centred_chunks,
        column_mean,
        cosine_knn,
        edge_chunks,
        graph_means,
        l2_normalise,
        neighbour_jaccard,
        row_chunks,
        squared_norm,
        with_ci,
    )
    from gnneval.model.counting import (
        HIST_EDGES,
        count_flops,
        prunable_weights,
    )
    from gnneval.model.forward import (
        message_passing_layers,
        model_inputs,
    )
    from gnneval.prune.masks import (
        prune_by_scores,
        smallest_k_mask,
    )
    from gnneval.prune.module_sizes import (
        sync_sizes,
    )
    from gnneval.prune.training import (
        TrainResult,
        apply_masks,
        reinitialise,
        step_flops,
        task_loss,
        train,
    )
    from gnneval.show.forked import (
        map_in_processes,
    )
    from gnneval.show.jit_cache import (
        import_cached,
    )
    from gnneval.show.layouts import (
        aligned_layouts,
        umap_layout,
    )
    from gnneval.show.plots import (
        DENSE_COLOUR,
        OKABE_ITO,
        class_colours,
        draw_spread,
        procrustes_align,
        pruner_colour,
        save_figure,
    )
    from gnneval.store.stored_rows import (
        drawn_items,
        rows_at,
    )
    from gnneval.store.tidy import (
        sparsity_step,
        tracked_scalars,
    )
# --- end of generated block ---

__all__ = list(HELPERS)  # noqa: PLE0605 - the one table above


def __getattr__(name: str) -> Any:
    """Import a helper on first use (PEP 562)."""
    where = HELPERS.get(name)
    if where is None:
        raise AttributeError(f"module 'gnneval.plugin.helpers' has no attribute {name!r}")
    module, _, attr = where.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
