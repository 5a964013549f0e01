"""gnneval plugin: aligned t-SNE maps of the last hidden layer (scikit-learn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnneval.plugin import VisualContext, Visualiser, hookimpl
from gnneval.plugin.helpers import class_colours, procrustes_align as align, save_figure

__version__ = "0.1.0"


class TsneMaps(Visualiser):
    """Aligned t-SNE maps (scikit-learn) of the last hidden layer, the dense model beside every variant, each
    variant started from the dense layout and aligned by orthogonal Procrustes; a seeded sample of large graphs.

    Args:
        perplexity: t-SNE's perplexity.
        max_points: nodes drawn at most (a seeded sample above it).
    """

    def __init__(self, *, perplexity: float = 30.0, max_points: int = 3000) -> None:
        super().__init__()
        self.perplexity = perplexity
        self.max_points = max_points

    def draw(self, ctx: VisualContext) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from sklearn.manifold import TSNE

        run = ctx.run
        dense = run.dense.outputs
        layers = list(dense.embeddings)
        layer = layers[-2] if len(layers) >= 2 else layers[-1]
        n = run.graph.num_nodes
        rng = np.random.default_rng(ctx.seed)
        idx = np.sort(rng.choice(n, self.max_points, replace=False)) if n > self.max_points else np.arange(n)
        perplexity = min(self.perplexity, (len(idx) - 1) / 3)

        def fit(x, init="pca"):
            return TSNE(n_components=2, perplexity=perplexity, init=init, random_state=ctx.seed).fit_transform(x)

        base = fit(dense.embeddings[layer][idx])
        variants = [
            v for v in run.variants if v.pruner and v.ok and v.outputs is not None and layer in v.outputs.embeddings
        ]
        cols = 1 + len(variants)
        fig, axes = plt.subplots(1, cols, figsize=(3.2 * cols, 3.8), squeeze=False)
        colours = class_colours(run.graph.num_classes)
        y = run.graph.y[idx]
        panels = [("dense", base, None)]
        for v in variants:
            xy = align(fit(v.outputs.embeddings[layer][idx], init=base.astype(np.float32)), base)
            panels.append((f"{v.pruner} @ {v.sparsity:.0%}", xy, v.outputs.predictions[idx] != dense.predictions[idx]))
        for ax, (title, xy, flipped) in zip(axes[0], panels):
            ax.scatter(xy[:, 0], xy[:, 1], c=[colours[c] for c in y], s=4, linewidths=0)
            if flipped is not None and flipped.any():
                ax.scatter(xy[flipped, 0], xy[flipped, 1], s=16, facecolors="none", edgecolors="black", linewidths=0.6)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel("t-SNE 1 (aligned to dense)", fontsize=7)
            ax.set_ylabel("t-SNE 2", fontsize=7)
        fig.suptitle(
            f"t-SNE of layer '{layer}' on {run.graph.name} ({len(idx)} nodes, perplexity {perplexity:.0f}, "
            f"seed {ctx.seed}); colour = class, ring = prediction flipped vs dense",
            fontsize=9,
        )
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, f"tsne_{layer.replace('.', '_')}", ctx.formats, dpi=120)


@hookimpl
def gnneval_register_visualisers(register):
    # Opt-in (--visualisers tsne): t-SNE is slower than the built-in UMAP maps and shows the same thing.
    register.add_visualiser("tsne", TsneMaps, description="aligned t-SNE maps of the last hidden layer", default=False)
