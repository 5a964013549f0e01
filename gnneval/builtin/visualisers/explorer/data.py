"""What the explorer shows, computed from a stored run alone: the points (nodes, or graphs for graph
classification), their facts, and for every layer × variant the aligned map and each point's change."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gnneval.plugin import RunResult
from gnneval.plugin.helpers import aligned_layouts, cosine_knn, drawn_items, graph_means, neighbour_jaccard, rows_at

K = 10  #: neighbours for the neighbourhood overlap and the relative displacement


@dataclass
class Points:
    """The points every panel shows, in one order: their facts and, per layer, the maps and changes."""

    index: np.ndarray  #: item (node or graph) of each point
    kind: str  #: "node" or "graph"
    total: int  #: items in the dataset (more than points when a seeded sample was drawn)
    cls: np.ndarray
    split: list[str]
    degree: np.ndarray  #: in-degree of each node; for graphs, their number of nodes
    dense_pred: np.ndarray | None
    layers: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)
    """layer -> variant id (``dense`` too) -> ``x``, ``y`` (aligned map), ``pred``, ``jaccard``, ``displacement``."""


def points(run: RunResult, max_points: int, seed: int) -> Points:
    """The points and their facts: a seeded sample of ``max_points`` when there are more items."""
    g = run.graph
    graph_level = g.batch is not None
    n = g.num_graphs if graph_level else g.num_nodes
    index = drawn_items(g, max_points, seed)
    if graph_level:
        degree = np.bincount(g.batch, minlength=n)
    else:
        degree = np.bincount(g.edge_index[1], minlength=n) if g.edge_index.size else np.zeros(n, dtype=np.int64)
    split = np.array(["none"] * n, dtype=object)
    for name in ("train", "val", "test"):
        mask = g.masks.get(name)
        if mask is not None and len(mask) == n:
            split[mask] = name
    labelled = g.task in ("node-classification", "graph-classification")
    dense = run.dense
    return Points(index=index, kind="graph" if graph_level else "node", total=n, cls=g.y[index] if len(g.y) == n
                  else np.zeros(len(index), dtype=np.int64), split=list(split[index]), degree=degree[index],
                  dense_pred=dense.outputs.predictions[index] if labelled and dense.outputs is not None else None)  # fmt: skip


def embedding(run: RunResult, vid: str, layer: str, pts: Points) -> np.ndarray | None:
    """A variant's embedding of ``layer`` at the points (graphs: each graph's mean node embedding)."""
    v = run.variant(vid)
    if not v.ok or v.outputs is None or layer not in v.outputs.embeddings:
        return None
    x = v.outputs.embeddings[layer]
    if pts.kind == "graph":
        return graph_means(x, run.graph.batch, pts.total)[pts.index]
    return np.asarray(x[rows_at(v.outputs, pts.index)], dtype=np.float64)


def relative_displacement(base: np.ndarray, moved: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """How far each point moved against its dense-map neighbours, in units of their distance: the norm of its
    move minus its neighbours' mean move, over its mean distance to them (0: it moved with its neighbourhood)."""
    own = moved - base
    theirs = own[neighbours].mean(axis=1)
    radius = np.linalg.norm(base[:, None, :] - base[neighbours], axis=2).mean(axis=1)
    return np.linalg.norm(own - theirs, axis=1) / np.maximum(radius, 1e-12)


def fill_layers(run: RunResult, pts: Points, seed: int) -> None:
    """For every layer of the dense model: the aligned maps of every variant that has it, and each point's
    k-NN overlap with dense (cosine, k = 10) and relative displacement."""
    from sklearn.neighbors import NearestNeighbors

    variants = [v.id for v in run.variants if v.id != "dense" and v.ok]
    for layer in run.dense.outputs.embeddings if run.dense.outputs is not None else {}:
        dense_x = embedding(run, "dense", layer, pts)
        others = {vid: x for vid in variants if (x := embedding(run, vid, layer, pts)) is not None}
        if dense_x is None or len(dense_x) < 3:
            continue
        base, maps = aligned_layouts(dense_x, others, seed)
        k = min(K, len(base) - 1)
        near = NearestNeighbors(n_neighbors=k + 1).fit(base).kneighbors(base, return_distance=False)[:, 1:]
        dense_knn = cosine_knn(dense_x, k)
        out = {"dense": _entry(run, "dense", pts, base, np.ones(len(base)), np.zeros(len(base)))}
        for vid, xy in maps.items():
            jac = neighbour_jaccard(dense_knn, cosine_knn(others[vid], k))
            out[vid] = _entry(run, vid, pts, xy, jac, relative_displacement(base, xy, near))
        pts.layers[layer] = out


def _entry(run: RunResult, vid: str, pts: Points, xy: np.ndarray, jac: np.ndarray, disp: np.ndarray) -> dict:
    v = run.variant(vid)
    pred = v.outputs.predictions[pts.index] if pts.dense_pred is not None and v.outputs is not None else None
    return {"x": xy[:, 0], "y": xy[:, 1], "pred": pred, "jaccard": jac, "displacement": disp}
