"""``gnneval compare RUN_A RUN_B ...``: runs side by side — of one checkpoint with other pruners or fine-tuning,
or of several checkpoints (a zoo).

- a console table: every run's summary rows (the repeats of ``--seeds`` merged) under one header, a ``run``
  column first; columns a run lacks are ``-``;
- the tidy export: every run's tidy table (docs/run-file.md) with a ``run`` column first;
- overlay curves: the headline score and the first similarity measure its metrics declare (linear CKA by
  default) of the shown layer to each run's own dense model
  against the sparsity reached, one line per run × pruner (colour: pruner; line style: run), bands where
  seeds were repeated, each run's dense score dotted;
- what differs between the runs — dataset, split, task, checkpoint, seeds — said in lines of their own, not
  hidden: comparing scores across datasets or splits is the reader's call, made knowingly.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from gnneval.core.records import RunResult
from gnneval.show.console import Col, summary_columns
from gnneval.store.tidy import COLUMNS, tidy_rows

LINE_STYLES = ("-", "--", ":", "-.")


def run_labels(paths: list[Path]) -> list[str]:
    """A short label per run: its folder's name, with the parent's prepended where two names are equal."""
    names = [_folder(p).name for p in paths]
    twice = {n for n, c in Counter(names).items() if c > 1}
    return [f"{_folder(p).parent.name}/{n}" if n in twice else n for p, n in zip(paths, names)]


def _folder(p: Path) -> Path:
    return p.parent if p.suffix == ".h5" else p


def differences(runs: list[RunResult], labels: list[str]) -> list[str]:
    """One line per way the runs differ that changes what their numbers mean."""
    facts = {
        "dataset": lambda r: r.provenance.dataset,
        "split": lambda r: str(r.provenance.resolved.get("split") or "the loader's"),
        "task": lambda r: r.provenance.task,
        "seeds": lambda r: ",".join(map(str, r.seeds)),
        "transform": lambda r: str(r.provenance.settings.get("transform") or "none"),
        "fine-tuning epochs": lambda r: str(r.provenance.settings.get("finetune_epochs") or 0),
    }
    out = []
    for what, of in facts.items():
        values = [of(r) for r in runs]
        if len(set(values)) > 1:
            out.append(f"the runs differ in {what}: " + "; ".join(f"{lab}: {v}" for lab, v in zip(labels, values)))
    shas = [r.provenance.checkpoint_sha256 for r in runs]
    if len(set(shas)) > 1:
        out.append(f"{len(set(shas))} different checkpoints (each variant is compared with its own run's dense model)")
    return out


def compare_columns(runs: list[RunResult], labels: list[str]) -> list[Col]:
    """Every run's summary columns merged by header, with the run first."""
    per_run = [summary_columns(r) for r in runs]
    headers: list[str] = []
    for cols in per_run:
        headers += [c.header for c in cols if c.header not in headers]
    merged = [Col("run", 0, [], "left")] + [
        Col(h, next(c.priority for cols in per_run for c in cols if c.header == h), [],
            next(c.justify for cols in per_run for c in cols if c.header == h))
        for h in headers
    ]  # fmt: skip
    for label, cols in zip(labels, per_run):
        by_header = {c.header: c for c in cols}
        n = len(cols[0].cells)
        merged[0].cells += [label] * n
        for col in merged[1:]:
            col.cells += by_header[col.header].cells if col.header in by_header else ["-"] * n
    return merged


def compare_rows(runs: list[RunResult], labels: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The tidy tables of every run, a ``run`` column first."""
    rows = [{"run": label, **row} for run, label in zip(runs, labels) for row in tidy_rows(run)]
    return ["run", *COLUMNS], rows


def _similarity_key(run: RunResult) -> str | None:
    """The first layer metric the run's metrics declared as similarity to dense (1 = the same)."""
    return next((c.key for c in run.columns if c.level == "layer" and c.role == "similarity"), None)


def draw_overlay(runs: list[RunResult], labels: list[str], out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    """The overlay curves (see the module), as ``compare_curves.<fmt>``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gnneval.show.plots import draw_spread, pruner_colour, save_figure

    pruners = list(dict.fromkeys(p for r in runs for p in r.pruners))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    for k, (run, label) in enumerate(zip(runs, labels)):
        summary, style = run.summarised(), LINE_STYLES[k % len(LINE_STYLES)]
        head, layer, similar = run.headline, run.shown_layer(), _similarity_key(run)
        panels = [(head.key if head else None, None), (similar, layer)]
        for ax, (key, lay) in zip(axes, panels):
            if key is None:
                continue
            for pruner in run.pruners:
                vs = sorted((v for v in summary.variants if v.pruner == pruner and v.ok and
                             key in (v.metrics if lay is None else v.layer_metrics.get(lay, {}))),
                            key=lambda v: v.weight_sparsity)  # fmt: skip
                if not vs:
                    continue
                xs = [100 * v.weight_sparsity for v in vs]
                ys = [100 * (v.metrics if lay is None else v.layer_metrics[lay])[key] for v in vs]
                colour = pruner_colour(pruner, pruners)
                ax.plot(xs, ys, marker="o", linestyle=style, color=colour, label=f"{label} · {pruner}")
                draw_spread(ax, xs, vs, key if lay is None else f"{lay}/{key}", 100.0, colour)
        dense = run.dense.metrics.get(head.key) if head else None
        if dense is not None:
            axes[0].axhline(100 * dense, color="#555555", linestyle=style, linewidth=0.9, alpha=0.7,
                            label=f"{label} · dense ({100 * dense:.1f}%)")  # fmt: skip
    head = runs[0].headline
    axes[0].set_ylabel(f"{head.label if head else 'score'} (%)")
    axes[0].set_title("Headline score against sparsity")
    sim = next((c for c in runs[0].columns if c.level == "layer" and c.role == "similarity"), None)
    axes[1].set_ylabel(f"{sim.label if sim else 'similarity'} to the run's dense model (×100)")
    axes[1].set_title("Similarity of the shown layer to dense")
    for ax in axes:
        ax.set_xlabel("sparsity reached (% of the dense model's parameters removed or zeroed)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{len(runs)} runs compared: " + ", ".join(labels), fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_dir, "compare_curves", formats)
