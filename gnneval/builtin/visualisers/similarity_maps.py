"""Pictures of the representational-similarity measures a run computed (``--metrics +similarity-all``).

- ``similarity-heatmap``: per variant, layer × measure, every measure with a bounded form oriented so that
  1 = identical to the dense model (the layer metrics' ``similarity`` keys).
- ``similarity-agreement``: Spearman rank correlation between measures across every variant and layer of the
  run (their ``oriented`` keys: larger = more similar), so a reader sees which measures tell the same story.

Both draw nothing (and say why in the run's problems) when fewer than two measures ran.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnneval.plugin import RunResult, VariantResult, VisualContext, Visualiser, hookimpl
from gnneval.plugin.helpers import save_figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def measures_with(run: RunResult, suffix: str) -> list[str]:
    """Metric names with a ``<name>.<suffix>`` layer value in any variant, in first-seen order."""
    seen: dict[str, None] = {}
    for v in run.variants:
        for values in v.layer_metrics.values():
            for key in values:
                if key.endswith("." + suffix):
                    seen.setdefault(key[: -len(suffix) - 1], None)
    return list(seen)


def _compared(run: RunResult) -> list[VariantResult]:
    return [v for v in run.variants if v.ok and v.id != "dense"]


class SimilarityHeatmap(Visualiser):
    """Per variant, a heatmap of layer × similarity measure, every measure in its bounded form oriented so that
    1 = identical to the dense model.
    """

    rank = 40

    caption = (
        "Each variant's similarity to the dense model, per layer (rows) and measure (columns); every measure "
        "is oriented so that 1 = identical, using its bounded form (distances d in [0, m] as 1 - d/m); "
        "unbounded measures are left out here and shown in the agreement picture."
    )

    def draw(self, ctx: VisualContext) -> list[Path]:
        run, plt = ctx.run.summarised(), _plt()
        names, variants = measures_with(run, "similarity"), _compared(run)
        if not names or not variants:
            return []  # no similarity measure ran (e.g. --metrics accuracy): nothing to draw
        if len(names) < 2:
            raise LookupError("fewer than two similarity measures ran; add --metrics +similarity-all")
        layers = list(run.dense.outputs.embeddings) if run.dense.outputs else list(variants[0].layer_metrics)
        cols = min(3, len(variants))
        rows = -(-len(variants) // cols)
        fig, axes = plt.subplots(
            rows,
            cols,
            squeeze=False,
            layout="constrained",
            figsize=(1.5 + (1.2 + 0.3 * len(names)) * cols, 1.2 + (0.45 * len(layers) + 2.2) * rows),
        )
        for ax, v in zip(axes.flat, variants):
            grid = np.array(
                [[v.layer_metrics.get(lay, {}).get(f"{n}.similarity", np.nan) for n in names] for lay in layers]
            )
            im = ax.imshow(
                grid,
                vmin=min(0.0, float(np.nanmin(grid))) if np.isfinite(grid).any() else 0.0,
                vmax=1.0,
                cmap="viridis",
                aspect="auto",
            )
            for (r, c), value in np.ndenumerate(grid):  # the number in every cell
                if np.isfinite(value):
                    ax.text(c, r, f"{value:.2f}", ha="center", va="center", fontsize=6,
                            color="black" if value > 0.6 else "white")  # fmt: skip
            ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
            ax.set_yticks(range(len(layers)), layers, fontsize=8)
            ax.set_title(f"{v.id}", fontsize=10)
            ax.set_ylabel("layer")
        for ax in list(axes.flat)[len(variants) :]:
            ax.axis("off")
        fig.colorbar(im, ax=axes, label="similarity to dense (1 = identical)", shrink=0.8)
        fig.suptitle("Similarity of each layer to the dense model\n(every measure oriented so that 1 = identical)",
                     fontsize=11)  # fmt: skip
        return save_figure(fig, ctx.out_dir, "similarity_heatmap", ctx.formats)


def agreement_matrix(run: RunResult) -> tuple[list[str], np.ndarray, int]:
    """``(measures, Spearman matrix, number of (variant, layer) points)`` over the points where all are present."""
    from scipy.stats import spearmanr

    names = measures_with(run, "oriented")
    if not names:
        return [], np.zeros((0, 0)), 0
    points = [
        [vals.get(f"{n}.oriented", np.nan) for n in names] for v in _compared(run) for vals in v.layer_metrics.values()
    ]
    table = np.array([p for p in points if np.all(np.isfinite(p))], dtype=np.float64).reshape(-1, len(names))
    if len(names) < 2 or table.shape[0] < 3:
        raise LookupError(
            "the similarity agreement needs at least two measures and three (variant, layer) points; "
            "add --metrics +similarity-all and more sparsities"
        )
    rho = np.atleast_2d(spearmanr(table).statistic)
    return names, np.nan_to_num(rho, nan=0.0), table.shape[0]


class SimilarityAgreement(Visualiser):
    """Spearman rank correlation between the similarity measures across every variant and layer of the run:
    where the measures tell the same story about pruning and where they disagree.
    """

    rank = 80

    caption = (
        "How the similarity measures agree: Spearman rank correlation between every two measures across all "
        "variants and layers of the run, each measure oriented so that larger = more similar to dense. "
        "1: they rank the variants' layers identically; 0: unrelated; negative: opposite stories."
    )

    def draw(self, ctx: VisualContext) -> list[Path]:
        plt = _plt()
        names, rho, n = agreement_matrix(ctx.run.summarised())
        if not names:
            return []  # no similarity measure ran
        fig, ax = plt.subplots(figsize=(2.5 + 0.42 * len(names), 2 + 0.38 * len(names)))
        im = ax.imshow(rho, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        if len(names) <= 14:
            for i in range(len(names)):
                for j in range(len(names)):
                    ax.text(
                        j,
                        i,
                        f"{rho[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if abs(rho[i, j]) > 0.6 else "black",
                    )
        fig.colorbar(im, ax=ax, label="Spearman rank correlation")
        title = f"Agreement between similarity measures\n(Spearman over {n} variant × layer points)"
        if n < 8:  # a handful of points can hardly rank differently: say so rather than show a confident matrix
            title += f"\nonly {n} points: add pruners or sparsities before reading agreement into it"
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, "similarity_agreement", ctx.formats)


@hookimpl
def gnneval_register_visualisers(register):
    register.add_visualiser(
        "similarity-heatmap",
        SimilarityHeatmap,
        description="per variant: layer × similarity measure, 1 = identical to dense",
    )
    register.add_visualiser(
        "similarity-agreement",
        SimilarityAgreement,
        description="rank correlation between the similarity measures across the run",
    )
