"""Speed-ups measured as ratios (paired, interleaved with the dense model), with an honest interval and a
noise flag."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest

from gnneval.bench.paired import PairedTiming, median_with_ci, noise_reasons, time_paired


def test_a_fake_timer_gives_the_right_ratio_and_interval():
    """A variant that takes exactly 2 ms and a dense model that takes 3 ms (with seeded jitter): the median
    per-pair ratio is 1.5, its interval contains 1.5, and it is narrow enough not to be flagged."""
    rng = np.random.default_rng(0)
    now = [0.0]

    def clock() -> float:
        return now[0]

    def variant() -> None:
        now[0] += 0.002 * (1 + 0.01 * rng.standard_normal())

    def dense() -> None:
        now[0] += 0.003 * (1 + 0.01 * rng.standard_normal())

    t = time_paired(variant, dense, budget_s=0.5, clock=clock)
    speedup, lo, hi = t.speedup()
    assert abs(speedup - 1.5) < 0.01 and lo <= 1.5 <= hi
    assert t.variant_ms.size >= 20 and (hi - lo) / 2 < 0.02 * speedup  # stopped early at ±2%
    assert not [r for r in noise_reasons(t, 3.0) if "interval" in r or "dense model" in r]


def test_a_wide_interval_and_a_drifting_dense_model_are_flagged():
    rng = np.random.default_rng(1)
    wild = PairedTiming(variant_ms=rng.uniform(1, 4, 40), dense_ms=rng.uniform(1, 4, 40), warmup=3)
    assert any("wider than ±10%" in r for r in noise_reasons(wild, None))
    steady = PairedTiming(variant_ms=np.full(40, 2.0), dense_ms=np.full(40, 6.0), warmup=3)
    assert any("slower than at the start" in r for r in noise_reasons(steady, 3.0))
    med, lo, hi = median_with_ci(np.arange(1, 102))
    assert med == 51 and lo < 51 < hi


def _spin(stop: float) -> None:
    while time.time() < stop:
        pass


@pytest.mark.slow
def test_a_busy_machine_keeps_the_speed_up_or_flags_it(tmp_path):
    """With busy processes on every core, the paired speed-up of a half-width GCN stays within ±15% of the
    quiet figure, or is flagged noisy: never a silent slowdown."""
    import copy

    import torch

    from gnneval.bench.backends import Reference, bench_torch
    from gnneval.testing import small_graph, small_model

    graph = small_graph(nodes=3000, avg_degree=10.0, features=64)
    dense = small_model(graph, hidden=256, epochs=1)
    narrow = small_model(graph, hidden=64, epochs=1)
    ref = Reference(dense, graph, None)
    quiet = bench_torch(copy.deepcopy(narrow), graph, budget_s=0.5, reference=ref)
    stop = time.time() + 8
    ctx = multiprocessing.get_context("fork")
    busy = [ctx.Process(target=_spin, args=(stop,)) for _ in range(2 * (torch.get_num_threads() or 1))]
    for p in busy:
        p.start()
    try:
        time.sleep(0.2)
        loaded = bench_torch(copy.deepcopy(narrow), graph, budget_s=0.5, reference=ref)
    finally:
        for p in busy:
            p.terminate()
            p.join()
    assert quiet.paired_runs >= 10 and loaded.paired_runs >= 10
    assert loaded.noisy or abs(loaded.speedup / quiet.speedup - 1) <= 0.15, (
        quiet.speedup,
        loaded.speedup,
        loaded.noise,
    )
    assert loaded.noisy or loaded.speedup > 1.0  # never reported as a slowdown unflagged


def _hold(path: str, queue) -> None:
    import os

    os.environ["GNNEVAL_TIMING_LOCK"] = path
    from gnneval.bench.timing_lock import timing_slot

    with timing_slot():
        start = time.time()
        time.sleep(0.4)
        queue.put((start, time.time()))


@pytest.mark.slow
def test_no_two_runs_time_at_once(tmp_path):
    """The timing slot is machine-wide: concurrent evaluations (``batch --jobs N``) time one after another."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(str(tmp_path / "timing.lock"), queue)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    spans = sorted(queue.get() for _ in procs)
    assert all(a[1] <= b[0] + 1e-3 for a, b in zip(spans, spans[1:])), spans


def test_a_long_pass_is_timed_fewer_times_and_said():
    """A call over LONG_PASS_S (a large graph): one warm-up and LONG_RUNS timed runs or pairs, and the
    result's note says how many and why."""
    from gnneval.bench.backends import _result, time_runs
    from gnneval.bench.paired import LONG_RUNS, time_paired

    now = [0.0]

    def clock() -> float:
        return now[0]

    def slow() -> None:
        now[0] += 3.0  # three seconds a call, on the fake clock

    calls = [0]

    def counted() -> None:
        calls[0] += 1
        slow()

    timing = time_paired(counted, slow, clock=clock)
    assert timing.variant_ms.size == LONG_RUNS and calls[0] == 1 + LONG_RUNS
    from gnneval.bench.paired import wall_timer

    times, warmup = time_runs(counted, timer=wall_timer(None, clock))
    assert times.size == LONG_RUNS and warmup == 1
    note = _result("torch", "cpu", times, warmup, 2, 100, 0, note="eager").note
    assert f"{LONG_RUNS} timed runs, fewer than the usual 10: one pass takes 3.0 s" in note


def test_a_very_long_pass_is_timed_once_unpaired_and_said():
    """A first call over VERY_LONG_PASS_S (ONNX Runtime's sparse form at ogbn-products' size): that call is the
    measurement; a variant is not paired (the dense model not run again), its speed-up is taken against the
    dense model's own run at the start, has no interval and is flagged with the reason."""
    import math

    from gnneval.bench.backends import _paired_result, _result, time_runs
    from gnneval.bench.paired import time_paired, wall_timer

    now = [0.0]
    calls = {"variant": 0, "dense": 0}

    def clock() -> float:
        return now[0]

    def call(who: str, seconds: float):
        def run() -> None:
            calls[who] += 1
            now[0] += seconds

        return run

    timing = time_paired(call("variant", 30.0), call("dense", 60.0), clock=clock)
    assert timing.variant_ms.tolist() == [30_000.0] and timing.dense_ms.size == 0
    assert calls == {"variant": 1, "dense": 0}
    short = time_paired(call("variant", 4.0), call("dense", 60.0), clock=clock, dense_hint_ms=60_000.0)
    assert short.variant_ms.tolist() == [4_000.0] and short.dense_ms.size == 0  # a pair would cost the dense 60 s
    calls["variant"] = 0
    times, warmup = time_runs(call("variant", 30.0), timer=wall_timer(None, clock))
    assert times.tolist() == [30_000.0] and warmup == 0 and calls["variant"] == 1
    note = _result("onnxruntime", "cpu", times, warmup, 2, 100, 0, note="sparse").note
    assert "1 timed run (the first call, no warm-up), fewer than the usual 10: one pass takes 30.0 s" in note

    class Graph:
        class data:
            num_nodes = 100

    import gnneval.bench.paired as paired

    real = paired.time_paired
    paired.time_paired = lambda v, d, **kw: real(v, d, clock=clock)
    try:
        r = _paired_result("onnxruntime", call("variant", 30.0), call("dense", 60.0), None, "cpu", Graph, 0.5,
                           60_000.0, 2, "sparse")  # fmt: skip
    finally:
        paired.time_paired = real
    assert r.speedup == 2.0 and math.isnan(r.speedup_ci_low) and r.paired_runs == 0
    assert r.noisy and "not paired with the dense model (a pass takes over 10 s)" in r.noise
