"""The rich summary printed at the end of a run (and by ``gnneval show``)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from gnneval.core.records import RunResult, VariantResult


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def _fmt_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


BACKEND_LABEL = {"torch": "torch", "onnxruntime": "ORT", "torch-compile": "compiled", "torch-sparse": "sparse"}


def _latency(v: VariantResult, backend: str, device: str) -> float | None:
    b = next((b for b in v.bench if b.backend == backend and b.device == device), None)
    return b.median_ms if b is not None and b.status == "ok" else None


def speedup_text(v: VariantResult, backend: str, device: str, lat: float | None, base: float | None) -> str:
    """``1.32x`` — or, when timed paired with the dense model, the median per-pair ratio, with ``±`` its
    interval's half-width and ``~`` when it was flagged noisy."""
    b = next((b for b in v.bench if b.backend == backend and b.device == device and b.status == "ok"), None)
    if b is not None and b.paired_runs:
        half = (b.speedup_ci_high - b.speedup_ci_low) / 2
        return f"{b.speedup:.2f}x±{half:.2f}" + (" ~" if b.noisy else "")
    return "-" if lat is None or base is None else f"{base / lat:.2f}x" + (" ~" if b is not None and b.noisy else "")


@dataclass
class Col:
    """One column of a console table: its header, its cells (rich markup allowed), how much it matters."""

    header: str
    priority: int  #: 0 is always shown; larger numbers are left out first when the terminal is narrow
    cells: list[str] = field(default_factory=list)
    justify: str = "right"

    def width(self) -> int:
        from rich.text import Text

        return max([len(self.header)] + [Text.from_markup(c).cell_len for c in self.cells])


def fit(cols: list[Col], width: int | None) -> tuple[list[Col], list[Col]]:
    """The columns that fit ``width`` terminal cells without cutting a cell, most important first, kept in
    their own order; and those left out.  ``None``: all of them.  What is chosen is rendered once to check."""
    if width is None:
        return cols, []
    chosen: list[int] = []
    used = 2  # the table's edges
    for i in sorted(range(len(cols)), key=lambda i: (cols[i].priority, i)):
        need = cols[i].width() + 2  # one cell of padding either side; the box has no vertical lines
        if cols[i].priority == 0 or used + need <= width:
            chosen.append(i)
            used += need
    while len(chosen) > 1 and not _renders_whole([cols[i] for i in sorted(chosen)], width):
        chosen.pop()  # the least important of those chosen
    keep = set(chosen)
    return [c for i, c in enumerate(cols) if i in keep], [c for i, c in enumerate(cols) if i not in keep]


def _renders_whole(cols: list[Col], width: int) -> bool:
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(_table(cols))
    lines = console.export_text().splitlines()
    return all(len(line.rstrip()) <= width and "…" not in line for line in lines)


def _table(cols: list[Col], **kwargs: Any) -> Any:
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, pad_edge=False, **kwargs)
    for c in cols:
        t.add_column(c.header, justify=c.justify, no_wrap=True)
    for row in zip(*(c.cells for c in cols)):
        t.add_row(*row)
    return t


def summary_columns(run: RunResult) -> list[Col]:
    """Every column of the variant summary, with its priority (what a narrow terminal keeps); the repeats of
    ``--seeds`` as one row each, their mean ± sample sd (n)."""
    run = run.summarised()
    dense, head = run.dense, run.headline
    shown = [c for c in run.columns if c.level == "variant" and c.role != "headline"]
    trained = any(v.training_flops for v in run.variants)
    saved = any(v.checkpoint_bytes for v in run.variants)
    dense_acc = dense.metrics.get(head.key) if head else None
    ok = run.variants  # every variant has a row; a failed one says so in the score column
    cols = [Col("variant", 0, [v.id for v in ok], "left"), Col("asked", 5, [f"{v.sparsity:.2f}" for v in ok]),
            Col("sparsity", 0, [_pct(v.weight_sparsity) if v.ok else "" for v in ok])]  # fmt: skip
    if head:
        cols.append(Col(head.label, 0, [_scored(head, v) if v.ok else "[red]failed[/red]" for v in ok]))
        cols.append(Col("Δ", 0, [_delta(v, head.key, dense_acc) for v in ok]))
    cols += [Col(c.label, 1 if c.role == "agreement" else 3, [spread_text(c, v, c.key) if v.ok else "" for v in ok])
             for c in shown]  # fmt: skip
    for n, (backend, device) in enumerate(_backends(run)):
        name = BACKEND_LABEL.get(backend, backend) + ("" if device == "cpu" else f" {device}")
        lat = [_latency(v, backend, device) for v in ok]
        base = _latency(dense, backend, device)
        cols.append(Col(f"{name} ms", 6, ["-" if x is None else f"{x:.2f}" for x in lat]))
        cols.append(Col(f"{name} ×", 1 if n == 0 else 2, [speedup_text(v, backend, device, x, base) if v.ok else ""
                                                          for v, x in zip(ok, lat)]))  # fmt: skip
    cols.append(Col("size", 1, [_fmt_bytes(v.size_bytes) if v.ok else "" for v in ok]))
    if saved:
        cols.append(Col("on disk", 3, [_fmt_bytes(v.checkpoint_bytes) if v.checkpoint_bytes else "-" for v in ok]))
    cols += [Col("params", 5, [_fmt_int(v.params) if v.ok else "" for v in ok]),
             Col("non-zero", 5, [_fmt_int(v.nonzero_params) if v.ok else "" for v in ok]),
             Col("MFLOPs", 4, [f"{v.flops / 1e6:.2f}" if v.ok else "" for v in ok]),
             Col("sparse MFLOPs", 6, [f"{v.flops_sparse / 1e6:.2f}" if v.ok else "" for v in ok]),
             Col("FLOPs ×", 3, [f"{dense.flops / v.flops:.2f}x" if v.ok and v.flops else "-" for v in ok])]  # fmt: skip
    if trained:
        cols.append(Col("train TFLOPs", 4, [f"{v.training_flops / 1e12:.3f}" if v.training_flops else "-" for v in ok]))
    return cols


def _scored(head: Any, v: VariantResult) -> str:
    """The headline score: over repeats, mean ± sample sd (n); else ``±`` the half-width of its 95% interval
    where the metric reports one; ``once``: deterministic in a run that repeats seeds."""
    if head.key in v.spread:
        return spread_text(head, v, head.key)
    value, lo, hi = (v.metrics.get(head.key + suffix) for suffix in ("", "_ci_low", "_ci_high"))
    once = " once" if v.deterministic else ""
    if value is None or lo is None or hi is None:
        return head.fmt(value) + once
    return f"{head.fmt(value)} ±{head.fmt((hi - lo) / 2).rstrip('%')}{once}"


def spread_text(c: Any, v: VariantResult, key: str) -> str:
    """``c``'s value of the run-level metric ``key`` in ``v``, and over repeats ``± sd (n)`` (the representation
    table's layer values: :func:`_layer_text`)."""
    value = v.metrics.get(key)
    s = v.spread.get(key)
    if s is None or s.n < 2:
        return c.fmt(value) + (f" (n={s.n})" if s is not None else "")
    return f"{c.fmt(value)} ±{c.fmt(s.sd).rstrip('%')} sd ({s.n})"


def _delta(v: VariantResult, key: str, dense_acc: float | None) -> str:
    """Points above (+) or below the dense model (the mean's, over repeats)."""
    acc = v.metrics.get(key) if v.ok else None
    return "" if acc is None or dense_acc is None or v.id == "dense" else f"{100 * (acc - dense_acc):+.1f}"


def _backends(run: RunResult) -> list[tuple[str, str]]:
    order = list(BACKEND_LABEL)
    return sorted(
        dict.fromkeys((b.backend, b.device) for v in run.variants for b in v.bench),
        key=lambda bd: (order.index(bd[0]) if bd[0] in order else len(order), bd),
    )


def summary_table(run: RunResult, width: int | None = None) -> Any:
    """A ``rich.table.Table`` with one row per variant: the columns that fit ``width`` (None: every column)."""
    return _fitted_summary(run, width)[0]


def _fitted_summary(run: RunResult, width: int | None) -> tuple[Any, list[Col]]:
    """The summary table fitted to ``width``, and the columns it left out."""
    cols, left_out = fit(summary_columns(run), width)
    p = run.provenance
    table = _table(
        cols,
        title=f"{p.architecture} on {p.dataset} ({p.checkpoint_path}, sha256 {p.checkpoint_sha256[:12]}); "
        f"device {p.device}",
        caption=_summary_caption(run, {c.header for c in cols}),
    )
    return table, left_out


def _summary_caption(run: RunResult, shown: set[str]) -> str:
    head, p = run.headline, run.provenance
    extra = [c for c in run.columns if c.level == "variant" and c.role != "headline"]
    explain = {
        "sparsity": "sparsity: share of the dense model's parameters zeroed or removed, as reached (the variant's "
        "name says what was asked: channels removed, structured; weights zeroed, unstructured)",
        "asked": "asked: the sparsity asked of the pruner",
        "size": "size: parameters and buffers, dense",
        "FLOPs ×": "FLOPs ×: the speed-up the dense-kernel FLOP count predicts",
        "sparse MFLOPs": "sparse MFLOPs: what kernels that skip zero weights would need",
        "on disk": "on disk: the --save-pruned checkpoint (sparse weights compressed)",
        "train TFLOPs": "train TFLOPs: spent training the variant (3 forward passes per step)",
    }
    parts = [text for header, text in explain.items() if header in shown]
    if any(h.endswith(" ×") and h != "FLOPs ×" for h in shown):
        parts.append("×: dense latency / variant latency on the same backend, timed interleaved with the dense "
                     "model: the median per-pair ratio ± its 95% interval (~: noisy); ms: median latency")  # fmt: skip
    parts += [f"{c.label}: {c.help}" for c in ([head] if head else []) + extra if c.help and c.label in shown]
    if head is not None:
        parts += _headline_notes(run, head)
    parts += repeat_notes(run)
    return "; ".join(parts) + ("" if len(run.seeds) > 1 else f"; seed {p.seed}")


def repeat_notes(run: RunResult) -> list[str]:
    """What ``± sd (n)`` and ``once`` mean, for a run that repeated seeds."""
    if len(run.seeds) < 2:
        return []
    notes = [f"± sd (n): mean ± sample standard deviation (ddof=1) over n repeats with seeds "
             f"{', '.join(map(str, run.seeds))} (every repeat is in run.h5; timings are the first seed's)"]  # fmt: skip
    if any(v.deterministic for v in run.variants):
        notes.append("once: deterministic (its pruner uses no seed), made once")
    return notes


def _headline_notes(run: RunResult, head: Any) -> list[str]:
    """What a headline metric reports beside its score: its interval, its number of items, its baseline."""
    m = run.dense.metrics
    notes = []
    if head.key + "_ci_low" in m:
        method = run.intervals.get(head.key, "95% interval")
        notes.append(f"±: half-width of the {method.split(' (')[0]}")
    if head.key + "_n" in m:
        notes.append(f"n = {int(m[head.key + '_n']):,} test {'pairs' if head.key + '_chance' in m else 'items'}")
    if head.key + "_majority" in m:
        notes.append(f"majority-class rate {head.fmt(m[head.key + '_majority'])} (the baseline)")
    elif head.key + "_chance" in m:
        notes.append(f"chance {head.fmt(m[head.key + '_chance'])} (the baseline)")
    return notes


def left_out_note(run: RunResult, width: int | None, run_dir: Any, left_out: list[Col] | None = None) -> str | None:
    """One line naming the summary's columns left out to fit ``width`` (``left_out``, if already fitted), and how
    to see them."""
    if left_out is None:
        left_out = fit(summary_columns(run), width)[1]
    if not left_out:
        return None
    names = ", ".join(c.header for c in left_out)
    return f"left out to fit {width} columns: {names} (`gnneval show {run_dir} --wide` shows every column)"


def representation_columns(run: RunResult) -> tuple[str, list[Col], list[Any]] | None:
    """The representation table's layer, its columns and the metric columns shown (None if nothing)."""
    run = run.summarised()
    layer = run.shown_layer()
    if layer is None or layer not in run.dense.layer_metrics:
        return None
    present = [
        c
        for c in run.columns
        if c.level == "layer" and any(c.key in v.layer_metrics.get(layer, {}) for v in run.variants)
    ]
    if not present:
        return None
    ok = [v for v in run.variants if v.ok]
    widths = [v.outputs.embeddings[layer].shape[1] if v.outputs and layer in v.outputs.embeddings else "" for v in ok]
    cols = [Col("variant", 0, [v.id for v in ok], "left"), Col("width", 2, [str(w) for w in widths])]
    for c in present:
        cols.append(Col(c.label, 1 if c.role == "similarity" else 3,
                        [_layer_text(c, v, layer) for v in ok]))  # fmt: skip
    return layer, cols, present


def _layer_text(c: Any, v: VariantResult, layer: str) -> str:
    values = v.layer_metrics.get(layer, {})
    if c.key not in values:
        return ""
    s = v.spread.get(f"{layer}/{c.key}")
    if s is None or s.n < 2:
        return c.fmt(values[c.key])
    return f"{c.fmt(values[c.key])} ±{c.fmt(s.sd).rstrip('%')}"


def representation_table(run: RunResult, width: int | None = None) -> Any:
    """Representation quality of the last hidden layer, one row per variant (None if nothing was measured)."""
    found = representation_columns(run)
    if found is None:
        return None
    layer, cols, present = found
    cols, left_out = fit(cols, width)
    shown = {c.header for c in cols}
    notes = [f"{c.label}: {c.help}" for c in present if c.help and c.label in shown]
    notes += ["±: sample sd over the seeds' repeats"] if len(run.seeds) > 1 else []
    if left_out:
        notes.append(f"left out to fit: {', '.join(c.header for c in left_out)} (--wide shows them)")
    return _table(
        cols,
        title=f"Representation quality of layer '{layer}' ({run.layer_role(layer)})",
        caption="; ".join([*notes, "all per-layer values are in run.h5"]),
    )


def _print_table(console: Any, table: Any, wide: bool) -> None:
    """Print ``table``; ``wide``: as wide as its columns need, whatever the terminal's width."""
    if not wide:
        console.print(table)
        return
    from rich.measure import Measurement

    width = console.width
    console.width = 10**4
    console.width = max(width, Measurement.get(console, console.options, table).maximum)
    try:
        console.print(table)
    finally:
        console.width = width


NO_LAYERS = ("no representation table: the model has no torch_geometric message-passing layer whose output could be "
             "captured (a TorchScript or ONNX file hides its layers; a model without message passing has none); "
             "`--layer MODULE` captures any module's output (e.g. --layer lin1) and measures it")  # fmt: skip


def print_summary(run: RunResult, console: Any, run_dir: Any, wide: bool = False) -> None:
    """The summary, the representation table, the problems and the files; fitted to the console's width
    (``wide``: every column)."""
    width = None if wide else console.width
    table, left_out = _fitted_summary(run, width)
    _print_table(console, table, wide)
    note = left_out_note(run, width, run_dir, left_out)
    if note:
        console.print(note, markup=False)
    from rich.markup import escape

    from gnneval.bench.paired import unpaired

    reasons = sorted({b.noise or "noisy" for v in run.variants for b in v.bench if b.noisy})
    once = [r for r in reasons if unpaired(r)]
    if once:  # not noise: a pass this long is timed once
        console.print(f"[yellow]timing[/yellow] figures marked ~ are {escape(once[0])}")
    if len(once) < len(reasons):
        console.print(f"[yellow]timing[/yellow] figures marked ~ were flagged "
                      f"({escape('; '.join(r for r in reasons if r not in once))}): raise --bench-budget, or time on "
                      "a quieter machine")  # fmt: skip
    rep = representation_table(run, width)
    if rep is not None:
        _print_table(console, rep, wide)
    elif run.dense.outputs is not None and not run.dense.outputs.embeddings:
        console.print(NO_LAYERS, soft_wrap=True, markup=False)
    for prob in run.problems:
        console.print(f"[yellow]problem[/yellow] {prob.where}: {prob.message}", soft_wrap=True)
    for label, path in run.files.items():
        if label != "run":
            console.print(f"picture [bold]{label}[/bold]: {path}", soft_wrap=True)
    console.print(f"results: [bold]{run_dir}[/bold] (run.h5)", soft_wrap=True)


BENCH_COLUMNS = ("backend", "device", "status", "median ms", "p10 ms", "p90 ms", "runs", "threads", "nodes/s",
                 "peak memory", "setup s", "max |diff|", "note")  # fmt: skip


def bench_table(results: list, architecture: str, graph: Any, flops: int) -> Any:
    """``gnneval bench``'s table: one row per backend."""
    from rich.table import Table

    t = Table(title=f"{architecture} on {graph.name}: {graph.data.num_nodes:,} nodes, "
                    f"{graph.data.edge_index.shape[1]:,} edges, {flops / 1e6:.1f} MFLOPs per forward pass")  # fmt: skip
    for col in BENCH_COLUMNS:
        t.add_column(col, justify="left" if col in ("backend", "device", "status", "note") else "right")
    for b in results:
        t.add_row(b.backend, b.device, b.status, f"{b.median_ms:.3f}", f"{b.p10_ms:.3f}", f"{b.p90_ms:.3f}",
                  str(b.runs), str(b.threads), f"{b.throughput_nodes_per_s:,.0f}",
                  f"{b.peak_memory_bytes / 2**20:.1f} MiB", f"{b.setup_s:.2f}",
                  f"{b.max_abs_diff:.2g}" if b.backend == "onnxruntime" else "", b.note)  # fmt: skip
    return t
