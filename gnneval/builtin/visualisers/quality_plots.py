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
from gnneval.plugin.helpers import DENSE_COLOUR, OKABE_ITO, draw_spread, pruner_colour, save_figure

MARKERS = {"torch": "o", "onnxruntime": "s", "torch-compile": "^"}
MIN_BUCKET = 30  #: a degree bucket with fewer test nodes is drawn faint and dotted, marked unreliable


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _hidden_layer(run: RunResult) -> str | None:
    return run.shown_layer()


def _by_pruner(run: RunResult, pruner: str) -> list[VariantResult]:
    return sorted((v for v in run.variants if v.pruner == pruner and v.ok), key=lambda v: v.sparsity)


def _pct_label(label: str) -> str:
    return {"test acc": "test accuracy (%)", "test AUC": "test ROC-AUC (%)"}.get(label, label)


class QualityCurves(Visualiser):
    """Accuracy, linear-probe accuracy and linear CKA to the dense model against sparsity, one line per pruner:
    whether the representations degrade before the predictions do.
    """

    rank = 20
    caption = "Accuracy, linear-probe accuracy on the frozen embeddings and linear CKA to the dense model against sparsity: whether the representations degrade before the predictions do. With --seeds: lines are means over the seeds, bands ± the sample sd, dots the repeats."

    def draw(self, ctx: VisualContext) -> list[Path]:
        plt = _plt()
        run = ctx.run.summarised()  # --seeds: one row per variant, its repeats' mean and spread
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
                    colour = pruner_colour(pruner, run.pruners)
                    xs = [v.sparsity for v in vs]
                    ax.plot(xs, [scale * value(v) for v in vs], "o-", color=colour, label=pruner)
                    draw_spread(ax, xs, vs, mkey if lay is None else f"{lay}/{mkey}", scale, colour)
            dense_value = 1.0 if mkey == "linear-cka.dense" else value(run.dense)
            if dense_value is not None:
                ax.axhline(scale * dense_value, color=DENSE_COLOUR, linestyle=":", label="dense")
            ax.set_xlabel("sparsity asked for")
            ax.set_ylabel(ylabel)
            where = "" if lay is None else f" (layer '{lay}')"
            title = ylabel.split(" (")[0]
            ax.set_title(title[:1].upper() + title[1:] + where, fontsize=10)
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
        run = ctx.run.summarised()  # --seeds: one row per variant, its repeats' mean and spread
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
    caption = "Left: the change in per-class accuracy against sparsity; right: accuracy by in-degree bucket: which classes and which low- or high-degree nodes pay for pruning. Buckets of fewer than 30 test nodes are faint and dotted: too few to read a trend into."

    def draw(self, ctx: VisualContext) -> list[Path]:
        plt = _plt()
        run = ctx.run.summarised()  # --seeds: one row per variant, its repeats' mean and spread
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
                few = n < MIN_BUCKET  # too few nodes to read a line into: drawn faint and dotted, and said
                ax.plot(xs, ys, "o:" if few else "o-", color=deg_cmap(i / max(1, len(buckets) - 1)),
                        alpha=0.35 if few else 1.0,
                        label=f"degree {b} ({n} nodes" + (f", < {MIN_BUCKET}: unreliable)" if few else ")"))  # fmt: skip
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
    """Speed-up against the dense model (the paired ratio with its 95% interval, which holds under load) against
    accuracy, every variant and backend (FLOPs speed-up where nothing was timed), with each backend's Pareto front;
    timings flagged noisy drawn hollow and kept off the front unless every one was flagged.
    """

    rank = 30
    caption = ("Every variant and backend by its speed-up over the dense model on that backend (the median per-pair "
               "ratio of interleaved timings, whiskers its 95% interval; the FLOP ratio where nothing was timed) and "
               "its accuracy, with each backend's Pareto front (faster and at least as accurate); hollow: flagged "
               "noisy, kept off the front while any figure is trusted. Labels name the variants on a front.")  # fmt: skip

    def draw(self, ctx: VisualContext) -> list[Path]:
        plt = _plt()
        run = ctx.run.summarised()  # --seeds: one row per variant, its repeats' mean and spread
        key, label = run.require_headline().key, run.require_headline().label
        timed = any(v.bench for v in run.variants)
        fig, ax = plt.subplots(figsize=(8.5, 5.5))
        points = _speed_points(run, key, timed)
        for pt in points:
            colour = DENSE_COLOUR if pt["pruner"] is None else pruner_colour(pt["pruner"], run.pruners)
            if pt["lo"] is not None:
                ax.errorbar(pt["x"], pt["y"], xerr=[[pt["x"] - pt["lo"]], [pt["hi"] - pt["x"]]], fmt="none",
                            ecolor=colour, elinewidth=0.8, capsize=2, alpha=0.8)  # fmt: skip
            ax.scatter(pt["x"], pt["y"], facecolors="none" if pt["noisy"] else colour, marker=pt["marker"], s=45,
                       edgecolors=colour if pt["noisy"] else "black", linewidths=1.2 if pt["noisy"] else 0.4, zorder=3)  # fmt: skip
        trusted = [pt for pt in points if not pt["noisy"] and pt["pruner"] is not None]
        dense = [pt for pt in points if pt["pruner"] is None]
        front = _draw_fronts(
            ax, trusted + dense if trusted else points, dashed_note=not trusted and len(points) > len(dense)
        )
        _label_without_overlap(ax, [pt for pt in points if id(pt) in front])
        ax.axvline(1.0, color=DENSE_COLOUR, linewidth=0.8, linestyle=":")
        ax.legend(handles=_pareto_legend(run, timed), fontsize=8, loc="lower left")
        ax.set_xlabel("speed-up over the dense model on the same backend (×, paired; 95% interval)" if timed
                      else "FLOPs speed-up over the dense model (×; no benchmark was run)")  # fmt: skip
        ax.set_ylabel(_pct_label(label))
        ax.set_title(f"Speed against quality on {run.graph.name}" + (": every variant and backend" if timed else ""))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, "pareto", ctx.formats)


def _speed_points(run: RunResult, key: str, timed: bool) -> list[dict]:
    """One point per variant and backend: its speed-up (paired where it was), interval and noise flag."""
    dense = run.dense
    out = []
    for v in run.variants:
        if not v.ok or key not in v.metrics:
            continue
        y = 100 * v.metrics[key]
        if not timed:
            out.append(dict(x=dense.flops / v.flops if v.flops else 1.0, lo=None, hi=None, y=y, noisy=False,
                            marker="o", backend="FLOPs", pruner=v.pruner, id=v.id))  # fmt: skip
            continue
        for b in v.bench:
            base = next((d.median_ms for d in dense.bench if d.backend == b.backend and d.status == "ok"), None)
            if b.status != "ok" or base is None:
                continue
            paired = bool(b.paired_runs)
            x = b.speedup if paired else base / b.median_ms
            out.append(dict(x=x, lo=b.speedup_ci_low if paired else None, hi=b.speedup_ci_high if paired else None,
                            y=y, noisy=b.noisy, marker=MARKERS.get(b.backend, "D"), backend=b.backend,
                            pruner=v.pruner, id=v.id if v.pruner else "dense"))  # fmt: skip
    return out


def _label_without_overlap(ax, points: list[dict]) -> None:
    """Label ``points`` with their variant, each label moved down until it clears those already placed."""
    placed: list[tuple[float, float]] = []
    fig = ax.figure
    fig.canvas.draw()
    for pt in sorted(points, key=lambda p: -p["y"]):
        sx, sy = ax.transData.transform((pt["x"], pt["y"]))
        dy = 4.0
        while any(abs(sx - px) < 70 and abs(sy + dy - py) < 9 for px, py in placed):
            dy -= 9.0
        placed.append((sx, sy + dy))
        ax.annotate(pt["id"], (pt["x"], pt["y"]), xytext=(5, dy), textcoords="offset points", fontsize=7,
                    arrowprops=dict(arrowstyle="-", color="#999999", lw=0.5) if dy < 0 else None)  # fmt: skip


class Weights(Visualiser):
    """Per-layer sparsity reached and weight-magnitude histograms before and after pruning: where each pruner
    took its weights from.
    """

    rank = 90
    caption = "Per-layer sparsity each variant reached, and the weight-magnitude histograms before and after pruning: where each pruner took its weights from."

    def draw(self, ctx: VisualContext) -> list[Path]:
        from gnneval.plugin.helpers import HIST_EDGES

        plt = _plt()
        run = ctx.run.summarised()  # --seeds: one row per variant, its repeats' mean and spread
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


def _draw_fronts(ax, points: list[dict], dashed_note: bool = False) -> set[int]:
    """Each backend's Pareto front (faster and at least as accurate: no other point has both a larger speed-up
    and a higher score), as a dashed step line; returns the ids of the points on a front."""
    on_front: set[int] = set()
    for backend in dict.fromkeys(p["backend"] for p in points):
        pts = sorted((p for p in points if p["backend"] == backend), key=lambda p: -p["x"])
        front, best = [], -np.inf
        for p in pts:  # fastest first: a point is on the front when it is more accurate than every faster one
            if p["y"] > best:
                front.append(p)
                best = p["y"]
        on_front |= {id(p) for p in front}
        ax.step([p["x"] for p in front], [p["y"] for p in front], where="pre", color="#777777", linewidth=1,
                linestyle="--" if not dashed_note else (0, (2, 2)), zorder=1)  # fmt: skip
    if dashed_note:
        ax.text(0.99, 0.01, "every timing was flagged noisy: the front is drawn from them", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7, color="#a33")  # fmt: skip
    return on_front


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
