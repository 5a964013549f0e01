"""UMAP maps of the last hidden layer, dense model beside every variant, on aligned axes.

The dense model's embedding is laid out first (seeded).  Each variant's layout
starts from the dense layout (``init``) and is then aligned to it by an
orthogonal Procrustes fit (rotation, reflection, uniform scale and shift), so
the same node sits in the same region across panels unless pruning really
moved it.  Nodes whose prediction flipped against the dense model are ringed
in black.  Graphs above ``max_points`` nodes are plotted on a seeded sample (of the stored nodes, when run.h5
keeps a sample: ``--store-embeddings``).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from gnneval.plugin import VisualContext, Visualiser, hookimpl
from gnneval.plugin.helpers import aligned_layouts, class_colours, drawn_items, graph_means, rows_at, save_figure


class UmapMaps(Visualiser):
    """Aligned UMAP maps (McInnes et al. 2018) of the last hidden layer: the dense model beside every variant,
    each variant's layout started from the dense one and aligned by orthogonal Procrustes, coloured by class,
    flipped predictions ringed; seeded, on a seeded sample of large graphs.

    Args:
        max_points: nodes drawn at most (a seeded sample above it).
        n_neighbors: UMAP's neighbourhood size.
        min_dist: UMAP's minimum distance between embedded points.
        n_epochs: UMAP's optimisation epochs.
    """

    rank = 50
    caption = "UMAP maps of the last hidden layer, one figure per pruner: the dense model beside each of its variants on aligned axes (each variant's layout starts from the dense one, then orthogonal Procrustes); colour: class; outlined: prediction flipped against dense (the share in each title); for graph classification one point per graph. explorer.html has every layer, interactively."

    def __init__(
        self, *, max_points: int = 5000, n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int = 200
    ) -> None:
        super().__init__()
        self.params = {"n_neighbors": n_neighbors, "min_dist": min_dist, "n_epochs": n_epochs}
        self.max_points = max_points

    def draw(self, ctx: VisualContext) -> list[Path]:
        run = ctx.run.summarised()  # --seeds: one row per variant, its repeats' mean and spread
        if run.dense.outputs is None or not run.dense.outputs.embeddings:
            return []
        layer = run.shown_layer()
        index, graph_level = self._points(run, ctx.seed)
        xs = {v.id: x for v in run.variants if (x := _embedding(run, v, layer, index, graph_level)) is not None}
        base, maps = aligned_layouts(xs.pop("dense"), xs, ctx.seed, **self.params)
        maps["dense"] = base
        files: list[Path] = []
        for pruner in run.pruners or [None]:
            files += self._figure(ctx, pruner, layer, index, graph_level, maps)
        return files

    def _points(self, run, seed: int) -> tuple[np.ndarray, bool]:
        """The items drawn (nodes; graphs for graph classification): a seeded sample above ``max_points``."""
        return drawn_items(run.graph, self.max_points, seed), run.graph.batch is not None

    def _figure(self, ctx, pruner, layer: str, index, graph_level: bool, maps: dict) -> list[Path]:
        """One figure per pruner: the dense map, then the pruner's variants by sparsity, five panels a row."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        run = ctx.run.summarised()  # --seeds: one row per variant, its repeats' mean and spread
        variants = [v for v in run.variants if v.pruner == pruner and v.ok] if pruner else []
        shown = [run.dense, *sorted(variants, key=lambda v: v.sparsity)]
        cols = min(5, len(shown))
        rows = -(-len(shown) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.4 * rows + 1.3), squeeze=False)
        y = run.graph.y[index] if len(run.graph.y) >= (index.max(initial=0) + 1) else np.zeros(len(index), int)
        for ax, v in zip(axes.flat, shown):
            if v.id in maps:
                self._panel(ax, run, v, maps[v.id], y, index, graph_level)
            else:
                ax.set_axis_off()
                ax.set_title(f"{v.id}: not drawn", fontsize=9)
        for ax in list(axes.flat)[len(shown) :]:
            ax.set_axis_off()
        self._legend(fig, run, graph_level)
        what = f"{len(index):,} of {(run.graph.num_graphs if graph_level else run.graph.num_nodes):,}"
        items = "graphs (mean node embedding)" if graph_level else "nodes"
        if not graph_level and run.graph.embedding_nodes is not None:
            items += f" (of the {len(run.graph.embedding_nodes):,} whose embeddings the run stored)"
        lines = [f"UMAP of layer '{layer}' ({run.layer_role(layer)}) on {run.graph.name}: {pruner or 'dense'}",
                 f"{what} {items}; each variant's layout starts from the dense one and is aligned to it "
                 f"(orthogonal Procrustes); seed {ctx.seed}"]  # fmt: skip
        width = max(40, int(3.4 * cols * 13))  # characters that fit the figure at this font size
        fig.suptitle("\n".join(textwrap.fill(line, width) for line in lines), fontsize=10)
        fig.tight_layout(rect=(0, 0.05, 1, 0.9 if cols <= 2 else 0.93))
        stem = f"umap_{layer.replace('.', '_').replace('#', '_')}" + (f"_{pruner}" if pruner else "")
        return save_figure(fig, ctx.out_dir, stem, ctx.formats)

    def _panel(self, ax, run, v, xy, y, index, graph_level: bool) -> None:
        colours = class_colours(run.graph.num_classes)
        ax.scatter(
            xy[:, 0], xy[:, 1], c=[colours[int(c) % len(colours)] for c in y], s=4, linewidths=0, rasterized=True
        )
        flipped = _flipped(run, v, index)
        if flipped is not None and flipped.any():  # a thin dark outline that leaves the class colour readable
            ax.scatter(xy[flipped, 0], xy[flipped, 1], s=9, facecolors="none", edgecolors="black", linewidths=0.35,
                       alpha=0.55, rasterized=True)  # fmt: skip
        head = run.require_headline()
        score = v.metrics.get(head.key)
        parts = [f"{100 * score:.1f}% {head.label.replace('test ', '')}"] if score is not None else []
        if v.id != "dense" and flipped is not None:
            parts.append(f"{100 * flipped.mean():.0f}% flipped")
        repeats = v.details.get("repeats") or []
        if len(repeats) > 1:  # --seeds: the score is the repeats' mean, the map (and its flips) the first repeat's
            mean = f": {100 * score:.1f}% mean over {len(repeats)} seeds" if score is not None else ""
            ax.set_title(
                f"{v.id}{mean}\nmap of {repeats[0]}" + (f", {parts[-1]}" if len(parts) > 1 else ""), fontsize=9
            )
        else:
            ax.set_title(f"{v.id}" + (f" ({', '.join(parts)})" if parts else ""), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])

    def _legend(self, fig, run, graph_level: bool) -> None:
        from matplotlib.lines import Line2D

        colours = class_colours(run.graph.num_classes)
        what = "graph class" if graph_level else "class"
        handles = [Line2D([], [], marker="o", linestyle="", color=colours[k % len(colours)], label=f"{what} {k}")
                   for k in range(run.graph.num_classes)]  # fmt: skip
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="black",
                              label="outlined: prediction flipped vs dense"))  # fmt: skip
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)


def _embedding(run, v, layer: str, index, graph_level: bool):
    """``v``'s embedding of ``layer`` at the drawn items (graphs: each graph's mean node embedding)."""
    if not v.ok or v.outputs is None or layer not in v.outputs.embeddings:
        return None
    x = v.outputs.embeddings[layer]
    if graph_level:
        return graph_means(x, run.graph.batch, run.graph.num_graphs)[index]
    return np.asarray(x[rows_at(v.outputs, index)], dtype=np.float64)


def _flipped(run, v, index):
    if run.graph.task not in ("node-classification", "graph-classification") or v.outputs is None:
        return None
    return v.outputs.predictions[index] != run.dense.outputs.predictions[index]


@hookimpl
def gnneval_register_visualisers(register):
    register.add_visualiser(
        "umap", UmapMaps, description="aligned UMAP maps of the last hidden layer, dense beside each variant"
    )
