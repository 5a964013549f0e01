"""``gnneval batch``: evaluate many checkpoints with one pruner set and sparsity grid, resumably.

Each checkpoint is one job, identified by the sha256 of its content and the settings (pruners,
sparsities, seed, per-entry overrides), never by its file name.  A job runs ``gnneval evaluate`` in its
own process (``--executor local``, ``--jobs N`` at a time) or as a Ray task (``--executor ray``), so a
crash, a hang (``--timeout``) or an out-of-memory kill in one checkpoint cannot take the batch down.
The driver alone writes results: each job's ``run.h5`` lands in ``<out>/runs/<job>/`` (written
atomically by the evaluation), then the driver writes ``<out>/runs/<job>/result.json`` atomically; a job
with a ``result.json`` for the same key is skipped when the batch is run again.  Killing the batch at any
moment (SIGINT, SIGKILL) therefore loses nothing finished and leaves no torn file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gnneval.plugin.errors import UsageError, one_line

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".safetensors", ".onnx", ".ts", ".bin")


@dataclass
class BatchEntry:
    """One checkpoint to evaluate, with optional per-entry overrides (from a manifest)."""

    path: Path
    dataset: str | None = None
    task: str | None = None
    arch: str | None = None
    loader: str | None = None
    arch_options: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchSettings:
    pruners: list[str]
    sparsities: list[float]
    out: Path
    seed: int = 0
    jobs: int = 1
    timeout_s: float | None = None
    tolerance: float = 0.01  #: accuracy drop (fraction) still counted as "within tolerance"
    executor: str = "local"
    address: str | None = None
    data_root: str | None = None
    extra_args: list[str] = field(default_factory=list)  #: passed to every `gnneval evaluate`


@dataclass
class JobResult:
    """What the driver stores for one checkpoint (``result.json``)."""

    key: str
    checkpoint: str
    sha256: str
    status: str  #: ``ok`` or ``failed``
    reason: str = ""
    seconds: float = 0.0
    run: str = ""  #: path of the run's HDF5 file
    rows: list[dict[str, Any]] = field(default_factory=list)  #: leaderboard rows, one per pruner


def read_manifest(path: Path) -> list[BatchEntry]:
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"manifest {path} is not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: "
                         f"{one_line(exc)[:200]}") from None
    if isinstance(data, dict):
        data = data.get("checkpoints", data.get("entries"))
    if not isinstance(data, list) or not data:
        raise UsageError(f"manifest {path} must be a list of entries (or {{checkpoints: [...]}}), each with a 'path'")
    entries = []
    for i, item in enumerate(data):
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict) or "path" not in item:
            raise UsageError(f"manifest {path}: entry {i + 1} has no 'path'")
        p = Path(item["path"])
        entries.append(BatchEntry(path=p if p.is_absolute() else path.parent / p, dataset=item.get("dataset"),
                                  task=item.get("task"), arch=item.get("arch"), loader=item.get("loader"),
                                  arch_options=dict(item.get("arch_options") or {}),
                                  dataset_options=dict(item.get("dataset_options") or {})))
    return entries


def discover(source: Path) -> list[BatchEntry]:
    """Checkpoints of a folder (searched recursively) or of a manifest file."""
    if not source.exists():
        raise UsageError(f"{source} does not exist; give a folder of checkpoints or a manifest (.yaml/.json)")
    if source.is_file():
        if source.suffix in (".yaml", ".yml", ".json"):
            return read_manifest(source)
        raise UsageError(f"{source} is a file but not a manifest (.yaml, .yml or .json)")
    found = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES
                   and "runs" not in p.relative_to(source).parts)
    if not found:
        raise UsageError(f"no checkpoint files ({', '.join(CHECKPOINT_SUFFIXES)}) under {source}")
    return [BatchEntry(path=p) for p in found]


def sha256_of(path: Path) -> str:
    from gnneval.load.checkpoint import sha256_file

    return sha256_file(path)


def job_key(entry: BatchEntry, sha: str, s: BatchSettings) -> str:
    settings = {"pruners": s.pruners, "sparsities": s.sparsities, "seed": s.seed, "extra": s.extra_args,
                "entry": {k: v for k, v in asdict(entry).items() if k != "path"}}
    blob = json.dumps({"sha256": sha, "settings": settings}, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def evaluate_command(entry: BatchEntry, s: BatchSettings, out_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", "gnneval", "evaluate", str(entry.path), "--pruner", ",".join(s.pruners),
           "--sparsity", ",".join(f"{x:g}" for x in s.sparsities), "--seed", str(s.seed), "--out", str(out_dir),
           "--no-progress"]
    for flag, value in (("--dataset", entry.dataset), ("--task", entry.task), ("--arch", entry.arch),
                        ("--loader", entry.loader), ("--data-root", s.data_root)):
        if value:
            cmd += [flag, str(value)]
    for k, v in entry.arch_options.items():
        cmd += ["--arch-option", f"{k}={json.dumps(v)}"]
    for k, v in entry.dataset_options.items():
        cmd += ["--dataset-option", f"{k}={json.dumps(v)}"]
    return cmd + list(s.extra_args)


def run_job_process(cmd: list[str], timeout_s: float | None, threads: int) -> tuple[int, str]:
    """Run one evaluation in its own process; returns (exit status, one-line reason)."""
    env = {**os.environ, "GNNEVAL_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout_s:g} s (--timeout)"
    if res.returncode == 0:
        return 0, ""
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    err = next((ln for ln in reversed(lines) if ln.startswith("gnneval: error:")), None)
    if err is None and res.returncode < 0:
        err = f"killed by signal {-res.returncode}" + (" (out of memory?)" if res.returncode == -9 else "")
    if err is not None and err.startswith("gnneval: error: "):
        err = err[len("gnneval: error: "):]
    return res.returncode, (err or (lines[-1] if lines else f"exit status {res.returncode}"))[:300]


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
    layers = list(dense.outputs.embeddings) if dense.outputs else []
    hidden = layers[-2] if len(layers) >= 2 else (layers[-1] if layers else None)
    rows = []
    for pruner in run.pruners:
        vs = sorted((v for v in run.variants if v.pruner == pruner), key=lambda v: v.sparsity)
        row: dict[str, Any] = {"checkpoint": run.provenance.checkpoint_path, "pruner": pruner,
                               "architecture": run.provenance.architecture, "dataset": run.graph.name,
                               "metric": key, "dense": dense_acc}
        xs, ys = [0.0], [dense_acc]
        best = 0.0
        for v in vs:
            acc = v.metrics.get(key) if v.ok and key else None
            row[f"acc@{v.sparsity:g}"] = acc
            if hidden and v.ok and similar is not None:
                row[f"sim@{v.sparsity:g}"] = v.layer_metrics.get(hidden, {}).get(similar.key)
            lat = next((b.median_ms for b in v.bench if b.backend == "torch" and b.status == "ok"), None)
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


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_done(result_path: Path, key: str) -> JobResult | None:
    try:
        data = json.loads(result_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("key") != key or data.get("status") != "ok":
        return None
    return JobResult(**data)


def run_local(jobs: list[tuple[BatchEntry, str, Path]], s: BatchSettings,
              done: Callable[[BatchEntry, int, str, float], None],
              started: Callable[[BatchEntry], None] = lambda e: None) -> None:
    """Run jobs as separate processes, ``s.jobs`` at a time; ``done`` is called in the driver for each."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // max(1, s.jobs))

    def one(entry, key, out_dir):
        started(entry)
        t0 = time.perf_counter()
        code, reason = run_job_process(evaluate_command(entry, s, out_dir), s.timeout_s, threads)
        return entry, code, reason, time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=max(1, s.jobs)) as pool:
        futures = [pool.submit(one, *job) for job in jobs]
        for fut in as_completed(futures):
            done(*fut.result())


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
    entries = discover(source)
    runs = s.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    results: dict[str, JobResult] = {}
    todo = []
    skipped = 0
    for entry in entries:
        if not entry.path.is_file():
            results[str(entry.path)] = JobResult(key="", checkpoint=str(entry.path), sha256="", status="failed",
                                                 reason=f"{entry.path} does not exist")
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

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, disable=not show_progress)
    key_of = {id(e): k for e, k, _ in todo}
    dir_of = {k: d for _e, k, d in todo}

    with progress:
        overall = progress.add_task(f"batch ({skipped} already done)", total=len(todo))
        running: dict[str, Any] = {}

        def started(entry: BatchEntry) -> None:
            running[key_of[id(entry)]] = progress.add_task(f"  {entry.path.name}", total=None)

        def done(entry: BatchEntry, code: int, reason: str, seconds: float) -> None:
            key = key_of[id(entry)]
            if key in running:
                progress.remove_task(running.pop(key))
            job = results[key]
            job.seconds = seconds
            h5 = dir_of[key] / "run.h5"
            if code == 0 and h5.is_file():
                try:
                    job.rows = summarise(h5, s.tolerance)
                    job.status, job.run = "ok", str(h5)
                except Exception as exc:  # noqa: BLE001
                    job.status, job.reason = "failed", f"results unreadable: {one_line(exc)[:200]}"
            else:
                job.status, job.reason = "failed", reason or f"exit status {code}"
            dir_of[key].mkdir(parents=True, exist_ok=True)
            write_json_atomic(dir_of[key] / "result.json", asdict(job))
            progress.advance(overall)
            mark = "[green]ok[/green]" if job.status == "ok" else f"[red]failed[/red]: {job.reason}"
            console.print(f"{entry.path.name}: {mark} ({seconds:.1f} s)", soft_wrap=True)

        if s.executor == "local":
            run_local(todo, s, done, started)
        elif s.executor == "ray":
            from gnneval.run.batch_ray import run_ray

            for entry, _k, _d in todo:  # Ray schedules them all at once; each shows until its result is back
                started(entry)
            run_ray(todo, s, done)
        else:
            raise UsageError(f"unknown executor '{s.executor}'; use local or ray")
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
    write_json_atomic(json_path, {"settings": {k: (str(v) if isinstance(v, Path) else v)
                                               for k, v in asdict(s).items()}, "rows": rows})
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
        ax.set(xlabel="sparsity asked for (0 = dense)", ylabel="test accuracy / AUC (%)",
               title=f"{pruner}: every checkpoint")
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

    t = Table(title=f"Leaderboard: {len(results)} checkpoints, pruners {', '.join(s.pruners)}",
              caption=f"AUC: mean accuracy over the sparsity range (trapezoid, dense at 0); max within: highest "
                      f"sparsity keeping accuracy within {100 * s.tolerance:g} points of dense; speed-up: PyTorch, "
                      "at that sparsity")
    for col in ("checkpoint", "pruner", "dense", *[f"@{x:g}" for x in s.sparsities], "AUC", "max within",
                "speed-up", "status"):
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
            t.add_row(name, r["pruner"], pct(r["dense"]), *[pct(r.get(f"acc@{x:g}")) for x in s.sparsities],
                      pct(r.get("auc")), f"{best:g}", "-" if sp is None else f"{sp:.2f}x", "ok")
    return t

