"""``gnneval batch``: evaluate many checkpoints with one pruner set and sparsity grid, resumably.

Each checkpoint is one job, identified by the sha256 of its content, its path and the settings (pruners,
sparsities, seed, per-entry overrides): two identical files are two rows, and a renamed file is a new job.  A job runs ``gnneval evaluate`` in its
own process (``--executor local``, ``--jobs N`` at a time) or as a Ray task (``--executor ray``), so a
crash, a hang (``--timeout``) or an out-of-memory kill in one checkpoint cannot take the batch down.
The driver alone writes results: each job's ``run.h5`` lands in ``<out>/runs/<job>/`` (written
atomically by the evaluation), then the driver writes ``<out>/runs/<job>/result.json`` atomically; a job
with a ``result.json`` for the same key is skipped when the batch is run again.  Killing the batch at any
moment (SIGINT, SIGKILL) therefore loses nothing finished and leaves no torn file.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gnneval.core.errors import UsageError, one_line
from gnneval.run.batch_jobs import (
    BatchEntry,
    BatchSettings,
    JobResult,
    discover,
    job_key,
    load_done,
    run_local,
    sha256_of,
    write_json_atomic,
)


def summarise(run_h5: Path, tolerance: float) -> list[dict[str, Any]]:
    """Leaderboard rows (one per pruner) from a stored run."""
    import numpy as np

    from gnneval.store.hdf5 import read_run

    run = read_run(run_h5)
    head, similar = run.headline, run.column("similarity")
    key = head.key if head else None
    dense = run.dense
    dense_acc = dense.metrics.get(key) if key else None
    dense_lat = next((b.median_ms for b in dense.bench if b.backend == "torch" and b.status == "ok"), None)
    hidden = run.shown_layer()
    rows = []
    for pruner in run.pruners:
        vs = sorted((v for v in run.variants if v.pruner == pruner), key=lambda v: v.sparsity)
        row: dict[str, Any] = {
            "checkpoint": run.provenance.checkpoint_path,
            "pruner": pruner,
            "architecture": run.provenance.architecture,
            "dataset": run.graph.name,
            "metric": key,
            "dense": dense_acc,
        }
        xs, ys = [0.0], [dense_acc]
        best = 0.0
        for v in vs:
            acc = v.metrics.get(key) if v.ok and key else None
            row[f"acc@{v.sparsity:g}"] = acc
            if hidden and v.ok and similar is not None:
                row[f"sim@{v.sparsity:g}"] = v.layer_metrics.get(hidden, {}).get(similar.key)
            timing = next((b for b in v.bench if b.backend == "torch" and b.status == "ok"), None)
            if timing is not None and timing.paired_runs:  # measured as a ratio, with its noise flag
                row[f"speedup@{v.sparsity:g}"] = timing.speedup
                row[f"noisy@{v.sparsity:g}"] = timing.noise or False
            else:
                lat = timing.median_ms if timing is not None else None
                row[f"speedup@{v.sparsity:g}"] = dense_lat / lat if lat and dense_lat else None
            if acc is not None:
                xs.append(v.sparsity)
                ys.append(acc)
                if dense_acc is not None and acc >= dense_acc - tolerance:
                    best = max(best, v.sparsity)
        if dense_acc is not None and len(xs) > 1:
            row["auc"] = float(np.trapezoid(ys, xs) / (xs[-1] - xs[0])) if xs[-1] > xs[0] else None
        else:
            row["auc"] = None
        row["max_sparsity_within_tol"] = best
        row["failed_variants"] = sum(1 for v in vs if not v.ok)
        rows.append(row)
    return rows


def plan_jobs(entries: list[BatchEntry], s: BatchSettings) -> tuple[dict[str, JobResult], list[tuple], int]:
    """Results so far (missing files, jobs finished in an earlier run) and the jobs still to run.

    A job is keyed by the file's content, the settings *and its path*: two identical files are two rows
    of the leaderboard (each with its own run folder), never one row lost."""
    runs = s.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    results: dict[str, JobResult] = {}
    todo = []
    skipped = 0
    for entry in entries:
        if not entry.path.is_file():
            results[str(entry.path)] = JobResult(
                key="", checkpoint=str(entry.path), sha256="", status="failed", reason=f"{entry.path} does not exist"
            )
            continue
        sha = sha256_of(entry.path)
        key = job_key(entry, sha, s)
        out_dir = runs / f"{entry.path.stem}-{key}"
        prior = load_done(out_dir / "result.json", key)
        if prior is not None:
            results[key] = prior
            skipped += 1
            continue
        results[key] = JobResult(key=key, checkpoint=str(entry.path), sha256=sha, status="pending")
        todo.append((entry, key, out_dir))
    return results, todo, skipped


class _Tracker:
    """The driver's side of the jobs: progress lines, and each finished job's result written atomically."""

    def __init__(
        self, results: dict[str, JobResult], todo: list[tuple], s: BatchSettings, console, progress, overall
    ) -> None:
        self.results, self.s, self.console, self.progress, self.overall = results, s, console, progress, overall
        self.key_of = {id(e): k for e, k, _ in todo}
        self.dir_of = {k: d for _e, k, d in todo}
        self.running: dict[str, Any] = {}

    def started(self, entry: BatchEntry) -> None:
        self.running[self.key_of[id(entry)]] = self.progress.add_task(f"  {entry.path.name}", total=None)

    def done(self, entry: BatchEntry, code: int, reason: str, seconds: float) -> None:
        key = self.key_of[id(entry)]
        if key in self.running:
            self.progress.remove_task(self.running.pop(key))
        job = self.results[key]
        job.seconds = seconds
        h5 = self.dir_of[key] / "run.h5"
        if code == 0 and h5.is_file():
            try:
                job.rows = summarise(h5, self.s.tolerance)
                job.status, job.run = "ok", str(h5)
            except Exception as exc:  # noqa: BLE001
                job.status, job.reason = "failed", f"results unreadable: {one_line(exc)[:200]}"
        else:
            job.status, job.reason = "failed", reason or f"exit status {code}"
        self.dir_of[key].mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.dir_of[key] / "result.json", asdict(job))
        self.progress.advance(self.overall)
        mark = "[green]ok[/green]" if job.status == "ok" else f"[red]failed[/red]: {job.reason}"
        self.console.print(f"{entry.path.name}: {mark} ({seconds:.1f} s)", soft_wrap=True)


def run_batch(source: Path, s: BatchSettings, console=None, show_progress: bool = True) -> tuple[list[JobResult], int]:
    """Evaluate every checkpoint of ``source``; returns the results and the number skipped as done."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = console or Console(stderr=True)
    if s.executor not in ("local", "ray"):
        raise UsageError(f"unknown executor '{s.executor}'; use local or ray")
    results, todo, skipped = plan_jobs(discover(source), s)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not show_progress,
    )
    with progress:
        overall = progress.add_task(f"batch ({skipped} already done)", total=len(todo))
        tracker = _Tracker(results, todo, s, console, progress, overall)
        if s.executor == "local":
            run_local(todo, s, tracker.done, tracker.started)
        else:
            from gnneval.run.batch_ray import run_ray

            for entry, _k, _d in todo:  # Ray schedules them all at once; each shows until its result is back
                tracker.started(entry)
            run_ray(todo, s, tracker.done)
    return list(results.values()), skipped


def leaderboard_rows(results: Sequence[JobResult]) -> list[dict[str, Any]]:
    rows = []
    for job in results:
        if job.status == "ok":
            rows.extend({**r, "status": "ok", "reason": ""} for r in job.rows)
        else:
            rows.append({"checkpoint": job.checkpoint, "status": "failed", "reason": job.reason})
    return rows


def write_leaderboard(results: Sequence[JobResult], s: BatchSettings) -> dict[str, Path]:
    rows = leaderboard_rows(results)
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    csv_path = s.out / "leaderboard.csv"
    tmp = csv_path.with_name(csv_path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow(r)
    os.replace(tmp, csv_path)
    json_path = s.out / "leaderboard.json"
    write_json_atomic(
        json_path, {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(s).items()}, "rows": rows}
    )
    files = {"csv": csv_path, "json": json_path}
    try:
        files["plot"] = comparison_plot(rows, s)
    except Exception:  # noqa: BLE001 - the tables are what matters
        pass
    return files


def comparison_plot(rows: list[dict[str, Any]], s: BatchSettings) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok"]
    pruners = list(dict.fromkeys(r["pruner"] for r in ok))
    fig, axes = plt.subplots(1, max(1, len(pruners)), figsize=(6 * max(1, len(pruners)), 4.5), squeeze=False)
    for ax, pruner in zip(axes[0], pruners):
        for r in (r for r in ok if r["pruner"] == pruner):
            xs = [0.0] + [x for x in s.sparsities if r.get(f"acc@{x:g}") is not None]
            ys = [r["dense"]] + [r[f"acc@{x:g}"] for x in s.sparsities if r.get(f"acc@{x:g}") is not None]
            ax.plot(xs, [100 * y for y in ys], "o-", label=Path(r["checkpoint"]).name)
        ax.set(
            xlabel="sparsity asked for (0 = dense)",
            ylabel="test accuracy / AUC (%)",
            title=f"{pruner}: every checkpoint",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Accuracy against sparsity across checkpoints", fontsize=11)
    fig.tight_layout()
    path = s.out / "comparison.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def leaderboard_table(results: Sequence[JobResult], s: BatchSettings):
    from rich.table import Table

    t = Table(
        title=f"Leaderboard: {len(results)} checkpoints, pruners {', '.join(s.pruners)}",
        caption=f"AUC: mean accuracy over the sparsity range (trapezoid, dense at 0); max within: highest "
        f"sparsity keeping accuracy within {100 * s.tolerance:g} points of dense; speed-up: PyTorch, "
        "at that sparsity",
    )
    for col in (
        "checkpoint",
        "pruner",
        "dense",
        *[f"@{x:g}" for x in s.sparsities],
        "AUC",
        "max within",
        "speed-up",
        "status",
    ):
        t.add_column(col, justify="left" if col in ("checkpoint", "pruner", "status") else "right")
    for job in results:
        name = Path(job.checkpoint).name
        if job.status != "ok":
            t.add_row(name, "", "", *[""] * len(s.sparsities), "", "", "", f"[red]failed: {job.reason[:80]}[/red]")
            continue
        for r in job.rows:
            pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
            best = r["max_sparsity_within_tol"]
            sp = r.get(f"speedup@{best:g}") if best else None
            noisy = bool(r.get(f"noisy@{best:g}")) if best else False
            t.add_row(
                name,
                r["pruner"],
                pct(r["dense"]),
                *[pct(r.get(f"acc@{x:g}")) for x in s.sparsities],
                pct(r.get("auc")),
                f"{best:g}",
                "-" if sp is None else f"{sp:.2f}x" + (" ~" if noisy else ""),
                "ok",
            )
    return t
