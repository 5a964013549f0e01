"""The benchmark runner: latency of a model variant, measured with warm-up and
repeated timed runs.

Run counts adapt to a time budget per variant (default 0.5 s of timed runs), so
a full ``evaluate`` stays fast; the median, p10/p90 and the number of runs are
reported with the thread count used.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from gnneval.results import BenchResult

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gnneval.plugin import GraphData


def time_runs(fn: Callable[[], object], *, budget_s: float = 0.5, warmup: int = 3, warmup_s: float = 0.1,
              min_runs: int = 5, max_runs: int = 1000,
              sync: Callable[[], None] | None = None) -> tuple[np.ndarray, int]:
    """Warm up (at least ``warmup`` calls and ``warmup_s`` seconds), then call ``fn``
    repeatedly until ``budget_s`` is spent (at least ``min_runs``, at most ``max_runs``).
    Returns per-run milliseconds and the number of warm-up calls."""
    start = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - start < warmup_s:
        fn()
        if sync:
            sync()
        done += 1
    warmup = done
    times = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return np.asarray(times), warmup


def _rss_peak_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def bench_torch(model: torch.nn.Module, graph: GraphData, *, device: str = "cpu",
                budget_s: float = 0.5) -> BenchResult:
    """Latency of a full-graph forward pass in PyTorch eager mode."""
    import torch

    from gnneval.forward import model_inputs

    model = model.to(device).eval()
    inputs = model_inputs(graph, device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    if sync:
        torch.cuda.reset_peak_memory_stats()
    rss0 = _rss_peak_bytes()

    def run():
        with torch.inference_mode():
            model(*inputs)

    times, warmup = time_runs(run, budget_s=budget_s, sync=sync)
    peak = torch.cuda.max_memory_allocated() if sync else max(0, _rss_peak_bytes() - rss0)
    median = float(np.median(times))
    return BenchResult(
        backend="torch", device=device, median_ms=median, p10_ms=float(np.percentile(times, 10)),
        p90_ms=float(np.percentile(times, 90)), runs=int(times.size), warmup=warmup,
        threads=int(torch.get_num_threads()), throughput_nodes_per_s=graph.data.num_nodes / (median / 1e3),
        peak_memory_bytes=int(peak), note="eager; peak = CUDA max allocated" if sync else
        "eager; peak = process RSS growth",
    )
