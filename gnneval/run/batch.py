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
import json
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gnneval.core.errors import UsageError, one_line
from gnneval.core.records import RunResult, VariantResult
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

LEADERBOARD_COLUMNS = (
    "checkpoint", "sha256", "architecture", "dataset", "task", "variant", "pruner", "sparsity", "sparsity_reached",
    "repeats", "score_name", "score_label", "score", "score_sd", "score_ci_low", "score_ci_high", "delta",
    "similarity_name", "similarity", "speedup", "speedup_ci_low", "speedup_ci_high", "noisy", "noise_reason",
    "flops_ratio", "status", "reason",
)  # fmt: skip
"""The leaderboard's columns: one row per checkpoint × variant (docs in README, "Batch evaluation")."""
SUMMARY_COLUMNS = ("checkpoint", "pruner", "score_name", "dense", "auc", "max_sparsity_within_tol",
                   "speedup_at_max", "noisy_at_max", "failed_variants")  # fmt: skip
"""The per-checkpoint × pruner summary: the area under the score curve and the sparsity kept within tolerance."""


def summarise(run_h5: Path, tolerance: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The leaderboard rows of a stored run (one per variant, the repeats of ``--seeds`` merged) and its summary
    rows (one per pruner)."""
    from gnneval.store.stored_run import read_run

    full = read_run(run_h5)
    run = full.summarised()
    rows = [_variant_row(run, v) for v in run.variants]
    return rows, [_pruner_row(run, rows, p, tolerance) for p in run.pruners]


def _variant_row(run: RunResult, v: VariantResult) -> dict[str, Any]:
    head, similar, layer, p = run.headline, run.column("similarity"), run.shown_layer(), run.provenance
    key = head.key if head else None
    dense = run.dense.metrics.get(key) if key else None
    score = v.metrics.get(key) if key and v.ok else None
    spread = v.spread.get(key) if key else None
    timing = next((b for b in v.bench if b.backend == "torch" and b.status == "ok" and b.paired_runs), None)
    row = {
        "checkpoint": p.checkpoint_path, "sha256": p.checkpoint_sha256, "architecture": p.architecture,
        "dataset": run.graph.name, "task": p.task, "variant": v.id, "pruner": v.pruner or "", "sparsity": v.sparsity,
        "sparsity_reached": v.weight_sparsity if v.ok else None,
        "repeats": spread.n if spread is not None else 1, "score_name": key, "score_label": head.label if head else None,
        "score": score, "score_sd": spread.sd if spread is not None and spread.n > 1 else None,
        "score_ci_low": v.metrics.get(f"{key}_ci_low") if key else None,
        "score_ci_high": v.metrics.get(f"{key}_ci_high") if key else None,
        "delta": score - dense if score is not None and dense is not None and v.id != "dense" else None,
        "similarity_name": similar.key if similar else None,
        "similarity": v.layer_metrics.get(layer, {}).get(similar.key) if similar and layer and v.ok else None,
        "speedup": timing.speedup if timing else None, "speedup_ci_low": timing.speedup_ci_low if timing else None,
        "speedup_ci_high": timing.speedup_ci_high if timing else None, "noisy": bool(timing.noisy) if timing else False,
        "noise_reason": timing.noise if timing and timing.noisy else "",
        "flops_ratio": run.dense.flops / v.flops if v.ok and v.flops else None,
        "status": v.status, "reason": v.error,
    }  # fmt: skip
    return {k: (None if isinstance(x, float) and not math.isfinite(x) else x) for k, x in row.items()}


def _pruner_row(run: RunResult, rows: list[dict[str, Any]], pruner: str, tolerance: float) -> dict[str, Any]:
    import numpy as np

    dense = rows[0]["score"]
    mine = sorted((r for r in rows if r["pruner"] == pruner), key=lambda r: r["sparsity"])
    scored = [r for r in mine if r["score"] is not None]
    xs, ys = [0.0] + [r["sparsity"] for r in scored], [dense] + [r["score"] for r in scored]
    auc = (
        float(np.trapezoid(ys, xs) / (xs[-1] - xs[0])) if dense is not None and len(xs) > 1 and xs[-1] > xs[0] else None
    )
    kept = [r for r in scored if dense is not None and r["score"] >= dense - tolerance]
    best = max(kept, key=lambda r: r["sparsity"]) if kept else None
    return {"checkpoint": run.provenance.checkpoint_path, "pruner": pruner, "score_name": rows[0]["score_name"],
            "dense": dense, "auc": auc, "max_sparsity_within_tol": best["sparsity"] if best else 0.0,
            "speedup_at_max": best["speedup"] if best else None, "noisy_at_max": bool(best and best["noisy"]),
            "failed_variants": sum(1 for r in mine if r["status"] != "ok")}  # fmt: skip


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
        self.name_of = {k: e.path.name for e, k, _ in todo}
        self.dir_of = {k: d for _e, k, d in todo}
        self.running: dict[str, Any] = {}

    def started(self, entry: BatchEntry) -> None:
        key = self.key_of[id(entry)]
        planned = 1 + len(self.s.pruners) * len(self.s.sparsities)  # the evaluation's own count replaces it
        self.running[key] = self.progress.add_task(f"  {entry.path.name}: loading", total=planned)

    def poll(self) -> None:
        """Each running checkpoint's variants done so far, from the progress file its evaluation writes."""
        for key, task in list(self.running.items()):
            path = self.dir_of[key].parent / f".{self.dir_of[key].name}.progress"
            try:
                state = json.loads(path.read_text())
                self.progress.update(task, completed=state["done"], total=state["total"],
                                     description=f"  {self.name_of[key]}: {state['now']}")  # fmt: skip
            except (OSError, ValueError, KeyError):
                continue

    def done(self, entry: BatchEntry, code: int, reason: str, seconds: float) -> None:
        key = self.key_of[id(entry)]
        if key in self.running:
            self.progress.remove_task(self.running.pop(key))
        (self.dir_of[key].parent / f".{self.dir_of[key].name}.progress").unlink(missing_ok=True)
        job = self.results[key]
        job.seconds = seconds
        h5 = self.dir_of[key] / "run.h5"
        if code == 0 and h5.is_file():
            try:
                job.rows, job.summary = summarise(h5, self.s.tolerance)
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


@contextmanager
def _polling(poll: Any, every_s: float = 0.5) -> Iterator[None]:
    """Call ``poll()`` every ``every_s`` seconds in a thread while the block runs."""
    import threading

    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            poll()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
    results, todo, skipped = plan_jobs(discover(source, exclude=s.out), s)
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
            with _polling(tracker.poll):
                run_local(todo, s, tracker.done, tracker.started)
        else:
            from gnneval.run.batch_ray import run_ray

            for entry, _k, _d in todo:  # Ray schedules them all at once; each shows until its result is back
                tracker.started(entry)
            run_ray(todo, s, tracker.done)
    return list(results.values()), skipped


def leaderboard_rows(results: Sequence[JobResult]) -> list[dict[str, Any]]:
    """One row per checkpoint × variant (:data:`LEADERBOARD_COLUMNS`); a failed checkpoint is one row saying why."""
    rows = []
    for job in results:
        if job.status == "ok":
            rows.extend({c: r.get(c) for c in LEADERBOARD_COLUMNS} for r in job.rows)
        else:
            rows.append({**dict.fromkeys(LEADERBOARD_COLUMNS), "checkpoint": job.checkpoint, "sha256": job.sha256,
                         "status": "failed", "reason": job.reason})  # fmt: skip
    return rows


def summary_rows(results: Sequence[JobResult]) -> list[dict[str, Any]]:
    return [{c: r.get(c) for c in SUMMARY_COLUMNS} for job in results if job.status == "ok" for r in job.summary]


def render_leaderboard(results: Sequence[JobResult], fmt: str) -> str:
    """The leaderboard's rows as ``json``, ``csv`` or ``markdown`` text (what ``batch --format`` prints)."""
    from gnneval.show.export import render_rows

    extra = {"summary": summary_rows(results)} if fmt == "json" else None
    return render_rows(leaderboard_rows(results), list(LEADERBOARD_COLUMNS), fmt, extra)


def write_leaderboard(results: Sequence[JobResult], s: BatchSettings) -> dict[str, Path]:
    """``leaderboard.csv`` (one row per checkpoint × variant), ``leaderboard_summary.csv`` (per pruner),
    ``leaderboard.json`` (both, with the settings) and ``comparison.png``; each written atomically."""
    files = {"csv": s.out / "leaderboard.csv", "summary": s.out / "leaderboard_summary.csv"}
    for path, rows, cols in ((files["csv"], leaderboard_rows(results), LEADERBOARD_COLUMNS),
                             (files["summary"], summary_rows(results), SUMMARY_COLUMNS)):  # fmt: skip
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(cols))
            w.writeheader()
            w.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
        os.replace(tmp, path)
    files["json"] = s.out / "leaderboard.json"
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(s).items()}
    write_json_atomic(files["json"], {"settings": settings, "columns": list(LEADERBOARD_COLUMNS),
                                      "rows": leaderboard_rows(results), "summary": summary_rows(results)})  # fmt: skip
    try:
        files["plot"] = comparison_plot(leaderboard_rows(results), s)
    except Exception:  # noqa: BLE001 - the tables are what matters
        pass
    return files


def comparison_plot(rows: list[dict[str, Any]], s: BatchSettings) -> Path:
    """Every checkpoint's score against the sparsity reached, one panel per pruner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok" and r.get("score") is not None]
    pruners = list(dict.fromkeys(r["pruner"] for r in ok if r["pruner"]))
    fig, axes = plt.subplots(1, max(1, len(pruners)), figsize=(6 * max(1, len(pruners)), 4.5), squeeze=False)
    label = next((r["score_label"] for r in ok if r.get("score_label")), "score")
    for ax, pruner in zip(axes[0], pruners):
        for ckpt in dict.fromkeys(r["checkpoint"] for r in ok):
            mine = [r for r in ok if r["checkpoint"] == ckpt and r["pruner"] in ("", pruner)]
            mine.sort(key=lambda r: r["sparsity_reached"] or 0.0)
            ax.plot([100 * (r["sparsity_reached"] or 0.0) for r in mine], [100 * r["score"] for r in mine], "o-",
                    label=Path(ckpt).name)  # fmt: skip
        ax.set(xlabel="sparsity reached (%; 0 = dense)", ylabel=f"{label} (%)", title=f"{pruner}: every checkpoint")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Score against sparsity across checkpoints", fontsize=11)
    fig.tight_layout()
    path = s.out / "comparison.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def leaderboard_table(results: Sequence[JobResult], s: BatchSettings):
    """The console's summary: one row per checkpoint × pruner, the score at every sparsity asked."""
    from rich.table import Table

    t = Table(
        title=f"Leaderboard: {len(results)} checkpoints, pruners {', '.join(s.pruners)}",
        caption=f"AUC: mean score over the sparsity range (trapezoid, dense at 0); max within: highest "
        f"sparsity keeping the score within {100 * s.tolerance:g} points of dense; speed-up: PyTorch, paired, "
        "at that sparsity (~: noisy); every variant's row is in leaderboard.csv",
    )
    for col in ("checkpoint", "pruner", "score", "dense", *[f"@{x:g}" for x in s.sparsities], "AUC", "max within",
                "speed-up", "status"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("checkpoint", "pruner", "score", "status") else "right")
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}"  # noqa: E731
    for job in results:
        name = Path(job.checkpoint).name
        if job.status != "ok":
            t.add_row(name, "", "", "", *[""] * len(s.sparsities), "", "", "", f"[red]failed: {job.reason[:80]}[/red]")
            continue
        for r in job.summary:
            at = {v["sparsity"]: v["score"] for v in job.rows if v["pruner"] == r["pruner"]}
            sp = r["speedup_at_max"]
            t.add_row(name, r["pruner"], str(r["score_name"] or ""), pct(r["dense"]),
                      *[pct(at.get(x)) for x in s.sparsities], pct(r["auc"]), f"{r['max_sparsity_within_tol']:g}",
                      "-" if sp is None else f"{sp:.2f}x" + (" ~" if r["noisy_at_max"] else ""), "ok")  # fmt: skip
    return t
