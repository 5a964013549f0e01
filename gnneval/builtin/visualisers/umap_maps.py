"""UMAP maps of the last hidden layer, dense model beside every variant, on aligned axes.

The dense model's embedding is laid out first (seeded).  Each variant's layout
starts from the dense layout (``init``) and is then aligned to it by an
orthogonal Procrustes fit (rotation, reflection, uniform scale and shift), so
the same node sits in the same region across panels unless pruning really
moved it.  Nodes whose prediction flipped against the dense model are ringed
in black.  Graphs above ``max_points`` nodes are plotted on a seeded sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnneval.plugin import VisualContext, Visualiser, hookimpl
from gnneval.plugin.helpers import aligned_layouts, class_colours, save_figure


def hidden_layer(embeddings: dict[str, np.ndarray]) -> str:
    """The last hidden message-passing layer (the one before the output layer)."""
    names = list(embeddings)
    return names[-2] if len(names) >= 2 else names[-1]


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
    caption = "UMAP maps of the last hidden layer, the dense model beside each variant on aligned axes (each variant's layout starts from the dense one, then orthogonal Procrustes); colour: class; ringed: prediction flipped against dense. explorer.html has every layer, interactively."

    def __init__(
        self, *, max_points: int = 5000, n_neighbors: int = 15, min_dist: float = 0.1, n_epochs: int = 200
    ) -> None:
        super().__init__()
        self.params = {"n_neighbors": n_neighbors, "min_dist": min_dist, "n_epochs": n_epochs}
        self.max_points = max_points

    def draw(self, ctx: VisualContext) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D

        run = ctx.run
        dense = run.dense
        if dense.outputs is None or not dense.outputs.embeddings:
            return []
        layer = hidden_layer(dense.outputs.embeddings)
        key, short = run.require_headline().key, run.require_headline().label
        short = "acc" if short == "test acc" else "AUC"
        n = run.graph.num_nodes
        rng = np.random.default_rng(ctx.seed)
        idx = np.sort(rng.choice(n, self.max_points, replace=False)) if n > self.max_points else np.arange(n)
        batch = run.graph.batch  # graph classification: colour each node by its graph's class
        node_of = (lambda a: a[batch]) if batch is not None else (lambda a: a)  # noqa: E731
        y = node_of(run.graph.y)[idx]
        colours = class_colours(run.graph.num_classes)
        pruners = run.pruners
        sparsities = sorted({v.sparsity for v in run.variants if v.pruner})
        rows, cols = max(1, len(pruners)), 1 + len(sparsities)
        fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.1 * rows + 0.8), squeeze=False)

        def panel(ax, xy, title, flipped=None):
            ax.scatter(xy[:, 0], xy[:, 1], c=[colours[c] for c in y], s=3, linewidths=0, rasterized=True)
            if flipped is not None and flipped.any():
                ax.scatter(xy[flipped, 0], xy[flipped, 1], s=14, facecolors="none", edgecolors="black", linewidths=0.6)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("UMAP 1 (aligned to dense)", fontsize=7)
            ax.set_ylabel("UMAP 2", fontsize=7)

        cells = [
            (r, c, pruner, sp, next((v for v in run.variants if v.pruner == pruner and v.sparsity == sp), None))
            for r, pruner in enumerate(pruners)
            for c, sp in enumerate(sparsities, start=1)
        ]
        drawable = [
            cell
            for cell in cells
            if cell[4] is not None
            and cell[4].ok
            and cell[4].outputs is not None
            and layer in cell[4].outputs.embeddings
        ]
        # each variant's layout only needs the dense one: they are fitted side by side (forked processes)
        base, fitted = aligned_layouts(
            dense.outputs.embeddings[layer][idx],
            {cell[:2]: cell[4].outputs.embeddings[layer][idx] for cell in drawable},
            ctx.seed,
            **self.params,
        )
        layouts = dict(fitted)
        acc = dense.metrics.get(key)
        for r in range(len(pruners)):
            panel(axes[r][0], base, "dense" + (f" ({short} {100 * acc:.1f}%)" if acc is not None else ""))
        for r, c, pruner, sp, v in cells:
            ax = axes[r][c]
            if (r, c) not in layouts:
                ax.set_axis_off()
                ax.set_title(f"{pruner} @ {sp:.0%}: " + ("failed" if v is not None else "not run"), fontsize=9)
                continue
            flipped = (
                node_of(v.outputs.predictions)[idx] != node_of(dense.outputs.predictions)[idx]
                if run.graph.task in ("node-classification", "graph-classification")
                else None
            )
            v_acc = v.metrics.get(key)
            panel(
                ax,
                layouts[r, c],
                f"{pruner} @ {sp:.0%} (width {v.outputs.embeddings[layer].shape[1]}"
                + (f", {short} {100 * v_acc:.1f}%)" if v_acc is not None else ")"),
                flipped,
            )
        what = "graph class" if batch is not None else "class"
        handles = [
            Line2D([], [], marker="o", linestyle="", color=colours[k], label=f"{what} {k}")
            for k in range(run.graph.num_classes)
        ]
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markerfacecolor="none",
                markeredgecolor="black",
                label="prediction flipped vs dense" + (" (node's graph)" if batch is not None else ""),
            )
        )
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)
        sample = f", {len(idx)} of {n} nodes (seeded sample)" if len(idx) < n else f", all {n} nodes"
        fig.suptitle(
            f"UMAP of layer '{layer}' (last hidden layer) on {run.graph.name}{sample}; "
            f"n_neighbors={self.params['n_neighbors']}, min_dist={self.params['min_dist']}, "
            f"seed={ctx.seed}\naligned: each variant's layout starts from the dense layout and is then "
            "fitted to it by orthogonal Procrustes (rotation, reflection, scale, shift)",
            fontsize=10,
        )
        fig.tight_layout(rect=(0, 0.06, 1, 0.95))
        return save_figure(fig, ctx.out_dir, f"umap_{layer.replace('.', '_').replace('#', '_')}", ctx.formats)


@hookimpl
def gnneval_register_visualisers(register):
    register.add_visualiser(
        "umap", UmapMaps, description="aligned UMAP maps of the last hidden layer, dense beside each variant"
    )
