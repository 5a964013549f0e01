"""The Ray executor of ``gnneval batch`` (install with ``pip install 'gnneval[ray]'``).

Each checkpoint is a Ray task that runs ``gnneval evaluate`` in a temporary folder on whichever node
Ray schedules it, asking for one GPU where the cluster has GPUs, and returns the run's HDF5 bytes; the
driver alone writes them into the results folder (atomically), so a worker node never needs the
driver's file system for output and a failed or lost worker only fails its own checkpoint.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gnneval.core.errors import UsageError, one_line
from gnneval.run.batch_jobs import BatchEntry, BatchSettings, evaluate_command, run_job_process


def _evaluate_remote(cmd: list[str], timeout_s: float | None, threads: int) -> tuple[int, str, bytes | None]:
    with tempfile.TemporaryDirectory(prefix="gnneval-ray-") as tmp:
        i = cmd.index("--out")
        cmd = [*cmd[: i + 1], tmp, *cmd[i + 2 :]]
        code, reason = run_job_process(cmd, timeout_s, threads)
        h5 = Path(tmp) / "run.h5"
        return code, reason, (h5.read_bytes() if code == 0 and h5.is_file() else None)


def run_ray(
    todo: list[tuple[BatchEntry, str, Path]], s: BatchSettings, done: Callable[[BatchEntry, int, str, float], None]
) -> None:
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install 'gnneval[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(
                address=s.address,
                include_dashboard=False,
                log_to_driver=False,
                **({} if s.address else {"num_cpus": os.cpu_count()}),
            )
        except Exception as exc:  # noqa: BLE001
            raise UsageError(
                f"could not connect to a Ray cluster at {s.address or 'a new local one'}: {one_line(exc)[:200]}"
            ) from None
    gpus = ray.cluster_resources().get("GPU", 0)
    memory = {"memory": int(s.memory_gb * 2**30)} if s.memory_gb else {}  # Ray places a task where it fits
    remote = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=0, **memory)(_evaluate_remote)
    threads = 1 if gpus else max(1, int(ray.cluster_resources().get("CPU", 1)) // max(1, len(todo)))
    pending = {}
    for entry, _key, out_dir in todo:
        cmd = evaluate_command(entry, s, out_dir)
        if gpus:
            cmd += ["--device", "cuda"]
        pending[remote.remote(cmd, s.timeout_s, max(1, threads))] = (entry, out_dir, time.perf_counter())
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = ready[0]
        entry, out_dir, t0 = pending.pop(ref)
        try:
            code, reason, data = ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - a crashed or lost worker fails only its checkpoint
            done(entry, 1, f"Ray task failed: {one_line(exc)[:200]}", time.perf_counter() - t0)
            continue
        if data is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp = out_dir / "run.h5.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out_dir / "run.h5")
        done(entry, code, reason, time.perf_counter() - t0)
