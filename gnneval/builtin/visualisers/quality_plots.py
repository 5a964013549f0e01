"""Pictures of what pruning did, drawn from the stored run alone.

- ``quality-curves``: headline accuracy, linear-probe accuracy and linear CKA to
  dense (last hidden layer) against sparsity, one line per pruner, dense drawn.
- ``cka-heatmap``: linear CKA to the dense model per layer x sparsity, per pruner.
- ``class-degree``: per-class accuracy change and accuracy by in-degree bucket against sparsity.
- ``pareto``: latency (FLOPs where nothing was timed) against accuracy for every variant and backend.
- ``weights``: per-layer sparsity actually reached, and weight-magnitude histograms before and after.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gnneval.plugin import RunResult, VariantResult, VisualContext, Visualiser, hookimpl
from gnneval.plugin.helpers import DENSE_COLOUR, OKABE_ITO, pruner_colour, save_figure

MARKERS = {"torch": "o", "onnxruntime": "s", "torch-compile": "^"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _hidden_layer(run: RunResult) -> str | None:
    layers = list(run.dense.layer_metrics) or (list(run.dense.outputs.embeddings) if run.dense.outputs else [])
    if not layers:
        return None
    return layers[-2] if len(layers) >= 2 else layers[-1]


def _by_pruner(run: RunResult, pruner: str) -> list[VariantResult]:
    return sorted((v for v in run.variants if v.pruner == pruner and v.ok), key=lambda v: v.sparsity)


def _pct_label(label: str) -> str:
    return {"test acc": "test accuracy (%)", "test AUC": "test ROC-AUC (%)"}.get(label, label)


class QualityCurves(Visualiser):
    """Accuracy, linear-probe accuracy and linear CKA to the dense model against sparsity, one line per pruner:
    whether the representations degrade before the predictions do.
    """

    rank = 20
    caption = "Accuracy, linear-probe accuracy on the frozen embeddings and linear CKA to the dense model against sparsity: whether the representations degrade before the predictions do."

    def draw(self, ctx: VisualContext) -> list[Path]:
        plt = _plt()
        run = ctx.run
        key, label = run.require_headline().key, run.require_headline().label
        layer = _hidden_layer(run)
        panels = [
            (key, _pct_label(label), 100.0, None),
            ("linear-probe.test", "linear-probe test accuracy (%)", 100.0, layer),
            ("linear-cka.dense", "linear CKA to dense", 1.0, layer),
        ]
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
        for ax, (mkey, ylabel, scale, lay) in zip(axes, panels):

            def value(v, mkey=mkey, lay=lay):
                src = v.metrics if lay is None else v.layer_metrics.get(lay, {})
                return src.get(mkey)

            for pruner in run.pruners:
                vs = [v for v in _by_pruner(run, pruner) if value(v) is not None]
                if vs:
                    ax.plot(
                        [v.sparsity for v in vs],
                        [scale * value(v) for v in vs],
                        "o-",
                        color=pruner_colour(pruner, run.pruners),
                        label=pruner,
                    )
            dense_value = 1.0 if mkey == "linear-cka.dense" else value(run.dense)
            if dense_value is not None:
                ax.axhline(scale * dense_value, color=DENSE_COLOUR, linestyle=":", label="dense")
            ax.set_xlabel("sparsity asked for")
            ax.set_ylabel(ylabel)
            where = "" if lay is None else f" (layer '{lay}')"
            ax.set_title(ylabel.split(" (")[0].capitalize() + where, fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(
            f"What pruning did on {run.graph.name}: task accuracy, linear separability and similarity "
            "to the dense representation",
            fontsize=11,
        )
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, "quality_vs_sparsity", ctx.formats)


class CkaHeatmap(Visualiser):
    """Linear CKA to the dense model per layer × sparsity, per pruner: which layers pruning changes first."""

    rank = 70
    caption = "Linear CKA of every layer to the dense model's, per pruner and sparsity: which layers pruning changes first (1 = the same up to rotation and scale)."

    def draw(self, ctx: VisualContext) -> list[Path]:
        plt = _plt()
        run = ctx.run
        layers = [lay for lay in (run.dense.outputs.embeddings if run.dense.outputs else {})]
        pruners = [
            p
            for p in run.pruners
            if any("linear-cka.dense" in m for v in _by_pruner(run, p) for m in v.layer_metrics.values())
        ]
        if not pruners or not layers:
            return []
        fig, axes = plt.subplots(
            1, len(pruners), figsize=(1.6 + 1.1 * 5 * len(pruners), 0.6 + 0.55 * len(layers) + 1.4), squeeze=False
        )
        for ax, pruner in zip(axes[0], pruners):
            vs = _by_pruner(run, pruner)
            grid = np.array(
                [[v.layer_metrics.get(lay, {}).get("linear-cka.dense", np.nan) for v in vs] for lay in layers]
            )
            im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_xticks(range(len(vs)), [f"{v.sparsity:.0%}" for v in vs])
            ax.set_yticks(range(len(layers)), layers)
            for i in range(grid.shape[0]):
                for j in range(grid.shape[1]):
                    if np.isfinite(grid[i, j]):
                        ax.text(
                            j,
                            i,
                            f"{grid[i, j]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=8,
                            color="white" if grid[i, j] < 0.6 else "black",
                        )
            ax.set_xlabel("sparsity asked for")
            ax.set_ylabel("message-passing layer")
            ax.set_title(f"{pruner}: linear CKA to the dense layer", fontsize=10)
            fig.colorbar(im, ax=ax, label="linear CKA (1 = same)")
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, "cka_heatmap", ctx.formats)


class ClassDegree(Visualiser):
    """Per-class accuracy change and accuracy by in-degree bucket against sparsity: which classes and which
    low- or high-degree nodes pay for pruning.
    """

    rank = 60
    caption = "Left: the change in per-class accuracy against sparsity; right: accuracy by in-degree bucket: which classes and which low- or high-degree nodes pay for pruning."

    def draw(self, ctx: VisualContext) -> list[Path]:
        plt = _plt()
        run = ctx.run
        if run.graph.task != "node-classification" or not run.pruners:
            return []
        dense = run.dense
        classes = sorted(int(k.split("_")[1]) for k in dense.metrics if k.startswith("per-class.class_"))
        buckets = [k[len("degree-accuracy.deg_") :] for k in dense.metrics if k.startswith("degree-accuracy.deg_")]
        buckets.sort(key=lambda b: int(b.split("-")[0].rstrip("+")))
        if not classes and not buckets:
            return []
        rows = len(run.pruners)
        fig, axes = plt.subplots(rows, 2, figsize=(12, 3.8 * rows), squeeze=False)
        from gnneval.plugin.helpers import class_colours

        palette = class_colours(max(classes) + 1 if classes else 1)
        deg_cmap = plt.get_cmap("viridis")
        for r, pruner in enumerate(run.pruners):
            vs = _by_pruner(run, pruner)
            xs = [0.0] + [v.sparsity for v in vs]
            ax = axes[r][0]
            for c in classes:
                k = f"per-class.class_{c}"
                base = dense.metrics[k]
                ys = [0.0] + [100 * (v.metrics.get(k, np.nan) - base) for v in vs]
                ax.plot(xs, ys, "o-", color=palette[c], label=f"class {c} (dense {100 * base:.0f}%)")
            ax.axhline(0, color=DENSE_COLOUR, linestyle=":")
            ax.set(
                xlabel="sparsity asked for (0 = dense)",
                ylabel="change in test accuracy (points)",
                title=f"{pruner}: per-class accuracy change against dense",
            )
            ax.legend(fontsize=7, ncol=2)
            ax.grid(alpha=0.3)
            ax = axes[r][1]
            for i, b in enumerate(buckets):
                k = f"degree-accuracy.deg_{b}"
                n = int(dense.metrics.get(f"degree-accuracy.n_deg_{b}", 0))
                ys = [100 * dense.metrics[k]] + [100 * v.metrics.get(k, np.nan) for v in vs]
                ax.plot(xs, ys, "o-", color=deg_cmap(i / max(1, len(buckets) - 1)), label=f"degree {b} ({n} nodes)")
            ax.set(
                xlabel="sparsity asked for (0 = dense)",
                ylabel="test accuracy (%)",
                title=f"{pruner}: accuracy by node in-degree",
            )
            ax.legend(fontsize=7, ncol=2)
            ax.grid(alpha=0.3)
        fig.suptitle(f"Which nodes suffer first? ({run.graph.name})", fontsize=11)
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, "class_and_degree", ctx.formats)


class Pareto(Visualiser):
    """Latency (FLOPs where nothing was timed) against accuracy for every variant and backend, with the Pareto
    front; noisy timings drawn hollow and kept off the front.
    """

    rank = 30
    caption = "Every variant and backend by latency (FLOPs where nothing was timed) and accuracy, with each backend's Pareto front; timings flagged noisy are hollow and kept off the front."

    def draw(self, ctx: VisualContext) -> list[Path]:
        plt = _plt()
        run = ctx.run
        key, label = run.require_headline().key, run.require_headline().label
        timed = any(v.bench for v in run.variants)
        fig, ax = plt.subplots(figsize=(7.5, 5))
        points = []
        for v in run.variants:
            if not v.ok or key not in v.metrics:
                continue
            colour = DENSE_COLOUR if v.pruner is None else pruner_colour(v.pruner, run.pruners)
            entries = (
                [(f"{b.backend} {b.device}", b.median_ms, MARKERS.get(b.backend, "D"), b.noisy) for b in v.bench]
                if timed
                else [("FLOPs", v.flops / 1e6, "o", False)]
            )
            for backend, x, marker, noisy in entries:
                ax.scatter(
                    x,
                    100 * v.metrics[key],
                    facecolors="none" if noisy else colour,
                    marker=marker,
                    s=45,
                    edgecolors=colour if noisy else "black",
                    linewidths=1.2 if noisy else 0.4,
                )
                ax.annotate(
                    v.id if v.pruner else "dense",
                    (x, 100 * v.metrics[key]),
                    fontsize=6,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
                if not noisy:  # a figure flagged noisy is drawn hollow and kept off the front
                    points.append((backend, x, 100 * v.metrics[key]))
        _draw_fronts(ax, points)
        handles = _pareto_legend(run, timed)
        ax.legend(handles=handles, fontsize=8)
        ax.set_xlabel(
            "median latency of a full-graph forward pass (ms)"
            if timed
            else "inference cost (MFLOPs; no benchmark was run)"
        )
        ax.set_ylabel(_pct_label(label))
        ax.set_title(f"Speed against quality on {run.graph.name}: every variant" + (" and backend" if timed else ""))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, "pareto", ctx.formats)


class Weights(Visualiser):
    """Per-layer sparsity reached and weight-magnitude histograms before and after pruning: where each pruner
    took its weights from.
    """

    rank = 90
    caption = "Per-layer sparsity each variant reached, and the weight-magnitude histograms before and after pruning: where each pruner took its weights from."

    def draw(self, ctx: VisualContext) -> list[Path]:
        from gnneval.plugin.helpers import HIST_EDGES

        plt = _plt()
        run = ctx.run
        pruners = [p for p in run.pruners if _by_pruner(run, p)]
        if not pruners or not run.dense.weight_histograms:
            return []
        fig, axes = plt.subplots(len(pruners), 2, figsize=(13, 3.8 * len(pruners)), squeeze=False)
        tensors = list(run.dense.weight_histograms)
        centres = np.sqrt(np.asarray(HIST_EDGES[:-1]) * np.asarray(HIST_EDGES[1:]))
        for r, pruner in enumerate(pruners):
            vs = _by_pruner(run, pruner)
            ax = axes[r][0]
            width = 0.8 / max(1, len(vs))
            for j, v in enumerate(vs):
                ax.bar(
                    np.arange(len(tensors)) + j * width,
                    [100 * v.layer_sparsity.get(t, 0.0) for t in tensors],
                    width,
                    color=OKABE_ITO[j % len(OKABE_ITO)],
                    label=f"asked {v.sparsity:.0%}",
                )
            ax.set_xticks(np.arange(len(tensors)) + 0.4 - width / 2, tensors, rotation=20, fontsize=7)
            ax.set(
                ylabel="weights zero or removed (%)",
                ylim=(0, 100),
                title=f"{pruner}: sparsity reached per weight tensor",
            )
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3, axis="y")
            ax = axes[r][1]
            for j, v in enumerate([run.dense, *vs]):
                hist = np.sum([np.asarray(h[2:-1]) for h in v.weight_histograms.values()], axis=0)
                zeros = sum(h[0] for h in v.weight_histograms.values())
                name = "dense" if v.pruner is None else f"{v.sparsity:.0%}"
                colour = DENSE_COLOUR if v.pruner is None else OKABE_ITO[(j - 1) % len(OKABE_ITO)]
                ax.plot(
                    centres,
                    hist,
                    color=colour,
                    linewidth=2 if v.pruner is None else 1.2,
                    label=f"{name} ({zeros:,} zeros, {int(hist.sum()):,} non-zero)",
                )
            ax.set_xscale("log")
            ax.set(
                xlabel="|w| (log scale; zeros counted in the legend)",
                ylabel="number of weights",
                title=f"{pruner}: weight magnitudes, all weight matrices",
            )
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
        fig.suptitle(f"Sparsity reached and weight magnitudes before and after pruning ({run.graph.name})", fontsize=11)
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, "weights", ctx.formats)


def _draw_fronts(ax, points: list) -> None:
    """Each backend's Pareto front (faster and at least as accurate), as a dashed step line."""
    for backend in dict.fromkeys(p[0] for p in points):
        pts = sorted((x, y) for b, x, y in points if b == backend)
        front, best = [], -np.inf
        for x, y in pts:
            if y > best:
                front.append((x, y))
                best = y
        ax.step(
            [p[0] for p in front], [p[1] for p in front], where="post", color="#999999", linewidth=1, linestyle="--"
        )


def _pareto_legend(run, timed: bool) -> list:
    """Legend entries: dense, each pruner, each backend's marker, the front and the hollow noisy marker."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", color=DENSE_COLOUR, label="dense")]
    handles += [
        Line2D([], [], marker="o", linestyle="", color=pruner_colour(p, run.pruners), label=p) for p in run.pruners
    ]
    if timed:
        backends = dict.fromkeys(b.backend for v in run.variants for b in v.bench)
        handles += [
            Line2D(
                [],
                [],
                marker=MARKERS.get(b, "D"),
                linestyle="",
                color="white",
                markeredgecolor="black",
                label=f"backend: {b}",
            )
            for b in backends
        ]
    handles.append(Line2D([], [], color="#999999", linestyle="--", label="Pareto front"))
    if any(b.noisy for v in run.variants for b in v.bench):
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markerfacecolor="none",
                color="#555555",
                label="hollow: timing flagged noisy (off the front)",
            )
        )
    return handles


@hookimpl
def gnneval_register_visualisers(register):
    register.add_visualiser(
        "quality-curves", QualityCurves, description="accuracy, linear-probe accuracy and CKA to dense against sparsity"
    )
    register.add_visualiser("cka-heatmap", CkaHeatmap, description="linear CKA to dense per layer x sparsity")
    register.add_visualiser(
        "class-degree", ClassDegree, description="per-class accuracy change and accuracy by degree against sparsity"
    )
    register.add_visualiser("pareto", Pareto, description="latency (or FLOPs) against accuracy, every variant")
    register.add_visualiser(
        "weights", Weights, description="per-layer sparsity reached and weight-magnitude histograms"
    )
