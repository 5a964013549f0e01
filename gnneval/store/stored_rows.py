"""``--store-embeddings all|sample|none|auto``: which nodes' embeddings (and logits) run.h5 keeps.

Every metric is computed during the run on every node's outputs (or on its own stated sample); what is stored
is for the pictures, the explorer and the user's own analysis.  ``all`` keeps every node's; ``sample`` a seeded
uniform sample of ``--store-sample`` nodes (default 20,000, what the explorer shows at most; sorted, stored as ``/graph/embedding_nodes``, the same nodes for
every variant and layer); ``none`` no embeddings and no logits.  ``auto`` (the default) is
``all`` up to :data:`AUTO_ALL_NODES` nodes, ``sample`` above — said in the run.  Predictions are always stored
for every node.  Graph classification keeps every node (its graphs are small and are drawn whole).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gnneval.core import defaults
from gnneval.core.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.records import GraphArrays, VariantOutputs

MODES = defaults.STORE_EMBEDDINGS
AUTO_ALL_NODES = defaults.STORE_ALL_NODES
CHUNK_ROWS = 65_536
"""Rows written to HDF5 at a time: an embedding is copied to float32 and indexed one chunk at a time."""


def stored_rows(mode: str, num_nodes: int, task: str, sample: int, seed: int) -> np.ndarray | None:
    """The nodes whose embeddings are kept, sorted (an empty array for ``none``), or None for every node."""
    if mode not in MODES:
        raise UsageError(f"--store-embeddings {mode}: use one of {', '.join(MODES)}")
    if sample < 1:
        raise UsageError(f"--store-sample {sample}: give at least one node")
    if mode == "all" or task == "graph-classification" or (mode == "auto" and num_nodes <= AUTO_ALL_NODES):
        return None
    if mode == "none":
        return np.zeros(0, dtype=np.int64)
    if num_nodes <= sample:
        return None
    return np.sort(np.random.default_rng(seed).choice(num_nodes, sample, replace=False)).astype(np.int64)


def describe(rows: np.ndarray | None, num_nodes: int) -> str:
    """What is stored, in words: ``all``, ``none`` or ``sample of 20,000 of 2,400,000 nodes (seeded)``."""
    if rows is None:
        return "all"
    if rows.size == 0:
        return "none"
    return f"sample of {rows.size:,} of {num_nodes:,} nodes (seeded)"


def kept_rows(outputs: VariantOutputs, rows: np.ndarray | None) -> VariantOutputs:
    """``outputs`` with its logits and embeddings at ``rows`` only (predictions stay whole), as stored."""
    from dataclasses import replace

    if rows is None or outputs.rows is not None:
        return outputs
    embeddings = {k: np.ascontiguousarray(v[rows]) for k, v in outputs.embeddings.items()} if rows.size else {}
    return replace(outputs, logits=np.ascontiguousarray(outputs.logits[rows]), embeddings=embeddings, rows=rows)


def write_rows(group: object, name: str, arr: np.ndarray, rows: np.ndarray | None) -> object:
    """``arr`` (at ``rows``) written to ``group[name]`` as float32, a chunk of :data:`CHUNK_ROWS` rows at a time
    (never a whole float32 or indexed copy in memory)."""
    n = arr.shape[0] if rows is None else rows.size
    shape = (n, *arr.shape[1:])
    chunks = (max(1, min(n, CHUNK_ROWS)), *arr.shape[1:]) if n and arr.ndim > 1 else None
    ds = group.create_dataset(name, shape=shape, dtype=np.float32, chunks=chunks)  # type: ignore[attr-defined]
    for start in range(0, n, CHUNK_ROWS):
        part = arr[start : start + CHUNK_ROWS] if rows is None else arr[rows[start : start + CHUNK_ROWS]]
        ds[start : start + len(part)] = part.astype(np.float32, copy=False)
    return ds


def drawn_items(graph: GraphArrays, max_points: int, seed: int) -> np.ndarray:
    """The items a picture draws, sorted: every node (graphs for graph classification) whose embeddings are
    stored, or a seeded sample of ``max_points`` of them.  (Runs that store every node draw the same sample as
    before sampled storage existed.)"""
    graph_level = graph.batch is not None
    n = graph.num_graphs if graph_level else graph.num_nodes
    rng = np.random.default_rng(seed)
    stored = None if graph_level else graph.embedding_nodes
    if stored is None:
        return np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)
    if stored.size <= max_points:
        return stored
    return stored[np.sort(rng.choice(stored.size, max_points, replace=False))]


def rows_at(outputs: VariantOutputs, items: np.ndarray) -> np.ndarray:
    """Where ``items`` (node ids) sit in ``outputs``' logits and embeddings: the ids themselves when every node
    is stored, else their positions among the stored rows (a ValueError for a node that was not stored)."""
    if outputs.rows is None:
        return items
    at = np.searchsorted(outputs.rows, items)
    if items.size and (at.max() >= outputs.rows.size or not np.array_equal(outputs.rows[at], items)):
        raise ValueError("rows_at: some of these nodes' embeddings are not stored (--store-embeddings sample)")
    return at
