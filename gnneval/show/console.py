"""The rich summary printed at the end of a run (and by ``gnneval show``)."""

from __future__ import annotations

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
    return "-" if lat is None or base is None else f"{base / lat:.2f}x"


def summary_table(run: RunResult):
    """A ``rich.table.Table`` with one row per variant."""
    from rich.table import Table

    dense = run.dense
    head = run.headline
    shown = [c for c in run.columns if c.level == "variant" and c.role != "headline"]
    order = list(BACKEND_LABEL)
    backends = sorted(
        dict.fromkeys((b.backend, b.device) for v in run.variants for b in v.bench),
        key=lambda bd: (order.index(bd[0]) if bd[0] in order else len(order), bd),
    )
    p = run.provenance
    trained = any(v.training_flops for v in run.variants)
    saved = any(v.checkpoint_bytes for v in run.variants)
    t = Table(
        title=f"{p.architecture} on {p.dataset} ({p.checkpoint_path}, sha256 {p.checkpoint_sha256[:12]}); "
        f"device {p.device}",
        caption=_summary_caption(run, shown, saved, trained),
    )
    cols = _summary_columns(run, shown, saved, trained, backends)
    for i, col in enumerate(cols):
        t.add_column(col, justify="left" if i == 0 else "right")
    dense_acc = dense.metrics.get(head.key) if head else None
    for v in run.variants:
        if not v.ok:
            t.add_row(
                v.id, f"{v.sparsity:.2f}", "[red]failed[/red]", *[""] * (len(cols) - 4), f"[red]{v.error[:60]}[/red]"
            )
            continue
        acc = v.metrics.get(head.key) if head else None
        delta = "" if acc is None or dense_acc is None or v.id == "dense" else f"{100 * (acc - dense_acc):+.1f}"
        row = [
            v.id,
            f"{v.sparsity:.2f}",
            _pct(v.weight_sparsity),
            _fmt_int(v.params),
            _fmt_int(v.nonzero_params),
            _fmt_bytes(v.size_bytes),
            *([_fmt_bytes(v.checkpoint_bytes) if v.checkpoint_bytes else "-"] if saved else []),
            f"{v.flops / 1e6:.2f}",
            f"{v.flops_sparse / 1e6:.2f}",
            *([f"{v.training_flops / 1e12:.3f}" if v.training_flops else "-"] if trained else []),
            *([head.fmt(acc), delta] if head else []),
            *[c.fmt(v.metrics.get(c.key)) for c in shown],
        ]
        for backend, device in backends:
            lat, base = _latency(v, backend, device), _latency(dense, backend, device)
            row += ["-" if lat is None else f"{lat:.2f}", speedup_text(v, backend, device, lat, base)]
        row.append(f"{dense.flops / v.flops:.2f}x" if v.flops else "-")
        t.add_row(*row)
    return t


def _summary_caption(run: RunResult, shown: list, saved: bool, trained: bool) -> str:
    head, p = run.headline, run.provenance
    return (
        "sparsity: channels removed (structured) or weights zeroed (unstructured); zero/removed: share "
        "of dense parameters; ms: median latency of a full-graph forward pass; ×: dense latency / "
        "variant latency on the same backend (torch, ORT: timed interleaved with the dense model, the "
        "median per-pair ratio ± its 95% interval; ~ flags a noisy figure; sparse: over the dense "
        "model in eager torch); FLOPs ×: the speed-up "
        "the dense-kernel FLOP count "
        "predicts; sparse MFLOPs: what kernels that skip zero weights would need"
        + ("; on disk: the --save-pruned checkpoint (sparse weights compressed)" if saved else "")
        + (
            "; train TFLOPs: spent training the variant (3 forward passes per step, sparse steps count active weights)"
            if trained
            else ""
        )
        + "".join(f"; {c.label}: {c.help}" for c in ([head] if head else []) + shown if c.help)
        + f"; seed {p.seed}"
    )


def _summary_columns(run: RunResult, shown: list, saved: bool, trained: bool, backends: list) -> list[str]:
    head = run.headline
    cols = [
        "variant",
        "sparsity",
        "zero/removed",
        "params",
        "non-zero",
        "size",
        *(["on disk"] if saved else []),
        "MFLOPs",
        "sparse MFLOPs",
        *(["train TFLOPs"] if trained else []),
        *([head.label, "Δ"] if head else []),
        *[c.label for c in shown],
    ]
    for backend, device in backends:
        name = BACKEND_LABEL.get(backend, backend) + ("" if device == "cpu" else f" {device}")
        cols += [f"{name} ms", f"{name} ×"]
    cols.append("FLOPs ×")
    return cols


def representation_table(run: RunResult):
    """Representation quality of the last hidden layer, one row per variant (None if nothing was measured)."""
    from rich.table import Table

    dense = run.dense
    layers = list(dense.layer_metrics)
    if not layers:
        return None
    layer = layers[-2] if len(layers) >= 2 else layers[-1]
    present = [
        c
        for c in run.columns
        if c.level == "layer" and any(c.key in v.layer_metrics.get(layer, {}) for v in run.variants)
    ]
    if not present:
        return None
    t = Table(
        title=f"Representation quality of layer '{layer}' (last hidden layer)",
        caption="; ".join([*(f"{c.label}: {c.help}" for c in present if c.help), "all per-layer values are in run.h5"]),
    )
    t.add_column("variant")
    t.add_column("width", justify="right")
    for c in present:
        t.add_column(c.label, justify="right")
    for v in run.variants:
        if not v.ok:
            continue
        vals = v.layer_metrics.get(layer, {})
        width = v.outputs.embeddings[layer].shape[1] if v.outputs and layer in v.outputs.embeddings else ""
        t.add_row(v.id, str(width), *[c.fmt(vals[c.key]) if c.key in vals else "" for c in present])
    return t


def print_summary(run: RunResult, console, run_dir) -> None:
    console.print(summary_table(run))
    if any(b.noisy for v in run.variants for b in v.bench):
        console.print(
            "[yellow]timing[/yellow] figures marked ~ were measured on a busy or unsteady machine (see the "
            "problems): raise --bench-budget, or time on a quieter machine",
            soft_wrap=True,
        )
    rep = representation_table(run)
    if rep is not None:
        console.print(rep)
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
