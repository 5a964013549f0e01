"""Accuracy against sparsity (one line per pruner, dense level drawn), and
accuracy against inference FLOPs."""

from __future__ import annotations

from pathlib import Path

from gnneval.plugin import VisualContext, Visualiser, hookimpl
from gnneval.plugin.helpers import DENSE_COLOUR, draw_spread, pruner_colour, save_figure


class AccuracyCurves(Visualiser):
    """The headline score against sparsity (one line per pruner, the dense model drawn) and against FLOPs.

    Args:
        x: the first panel's sparsity: ``reached`` (the share of the dense model's parameters removed or zeroed,
            counted from the model: structured@0.5 may remove far more or less than half) or ``asked``.
    """

    rank = 10
    caption = ("The headline score against the sparsity each variant reached (the share of the dense model's "
               "parameters removed or zeroed), one line per pruner (the dense model dotted), and against the inference "
               "cost in MFLOPs: what each pruner keeps at a given size. Whiskers: the score's 95% bootstrap interval over the "
               "test items, where its metric reports one. With --seeds: the line is the mean over the seeds, the band ± the "
               "sample sd, each repeat a dot.")  # fmt: skip

    def __init__(self, *, x: str = "reached") -> None:
        super().__init__()
        if x not in ("reached", "asked"):
            raise ValueError(f"curves: x must be 'reached' or 'asked', not {x!r}")
        self.x = x

    def draw(self, ctx: VisualContext) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        run = ctx.run.summarised()  # --seeds: one row per variant, its repeats' mean and spread
        dense = run.dense
        acc_key, label = run.require_headline().key, run.require_headline().label
        label = {"test acc": "test accuracy (%)", "test AUC": "test ROC-AUC (%)"}.get(label, label)
        dense_acc = dense.metrics.get(acc_key)
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for pruner in run.pruners:
            vs = sorted(
                (v for v in run.variants if v.pruner == pruner and v.ok and acc_key in v.metrics),
                key=lambda v: v.sparsity,
            )
            if not vs:
                continue
            colour = pruner_colour(pruner, run.pruners)
            xs = [100 * (v.weight_sparsity if self.x == "reached" else v.sparsity) for v in vs]
            ys = [100 * v.metrics[acc_key] for v in vs]
            ax1.plot(xs, ys, "o-", color=colour, label=pruner)
            lo = [v.metrics.get(acc_key + "_ci_low") for v in vs]
            hi = [v.metrics.get(acc_key + "_ci_high") for v in vs]
            banded = draw_spread(ax1, xs, vs, acc_key, 100.0, colour)  # --seeds: mean ± sd band, a dot per repeat
            if not banded and all(x is not None for x in lo + hi):  # the score's 95% interval, as whiskers
                ax1.errorbar(xs, ys, yerr=[[y - 100 * a for y, a in zip(ys, lo)], [100 * b - y for y, b in zip(ys, hi)]],
                             fmt="none", ecolor=colour, elinewidth=0.8, capsize=2, alpha=0.7)  # fmt: skip
            ax2.plot([v.flops / 1e6 for v in vs], ys, "o-", color=colour, label=f"{pruner} (dense kernels)")
            if any(v.flops_sparse < v.flops for v in vs):
                ax2.plot(
                    [v.flops_sparse / 1e6 for v in vs],
                    ys,
                    "o--",
                    color=colour,
                    alpha=0.6,
                    label=f"{pruner} (sparse kernels)",
                )
        if dense_acc is not None:
            for ax in (ax1, ax2):
                ax.axhline(100 * dense_acc, color=DENSE_COLOUR, linestyle=":", label=f"dense ({100 * dense_acc:.1f}%)")
            ax2.plot([dense.flops / 1e6], [100 * dense_acc], "s", color=DENSE_COLOUR)
        ax1.set_xlabel("sparsity reached (% of the dense model's parameters removed or zeroed)" if self.x == "reached"
                       else "sparsity asked for (channels for structured pruners, weights otherwise)")  # fmt: skip
        ax1.set_ylabel(label)
        ax1.set_title(f"{label.split(' (')[0].capitalize()} against sparsity")
        ax2.set_xlabel("inference cost (MFLOPs per full-graph forward pass)")
        ax2.set_ylabel(label)
        ax2.set_title(f"{label.split(' (')[0].capitalize()} against inference cost")
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(
            f"{run.provenance.architecture.upper()} on {run.graph.name}: {Path(run.provenance.checkpoint_path).name}",
            fontsize=11,
        )
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, "accuracy_vs_sparsity", ctx.formats)


@hookimpl
def gnneval_register_visualisers(register):
    register.add_visualiser("curves", AccuracyCurves, description="accuracy against sparsity and against FLOPs")
