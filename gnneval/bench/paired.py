"""Speed-ups measured as ratios: a variant timed interleaved with the dense model, in one process.

Timing a variant and the dense model at different moments divides two figures taken under different
load: on a busy machine a 1.4x speed-up can read 0.15x.  Here the two run alternately (ABBA order, so
neither always goes first, as in hyperfine's and pyperf's paired designs), each pair gives one ratio
``dense / variant``, and the speed-up is the median ratio with a distribution-free 95% confidence
interval (order statistics).  The figure is **flagged noisy**, with the reason, when its interval is
wider than ±10%, when the dense model's own latency drifted from its baseline during the run, or when
the machine was busier than it has cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NOISY_HALF_WIDTH = 0.10  #: a speed-up whose 95% interval is wider than ±10% is flagged
DRIFT_TOLERANCE = 0.25  #: the dense model timed 25% away from its own baseline: the load changed
PRECISION = 0.02  #: stop once the ratio's interval is within ±2%
LONG_PASS_S = 1.0  #: a first call longer than this: one warm-up and :data:`LONG_RUNS` timed runs (or pairs)
LONG_RUNS = 3
VERY_LONG_PASS_S = 10.0
"""A first call longer than this is the measurement: one run, and a variant's not paired with the dense model
(each pair would cost two such passes; at ogbn-products' size ONNX Runtime's sparse form takes ~1 min)."""

UNPAIRED = "one run, not paired with the dense model (a pass takes over 10 s)"
"""The start of the reason a very long pass's speed-up is flagged with."""
SPEEDUP_INTERVAL = (
    "median of per-pair ratios dense/variant, timed interleaved in ABBA order; 95% interval from "
    "order statistics n/2 ± 1.96·sqrt(n)/2 (distribution-free)"
)


def unpaired(reason: str) -> bool:
    """Whether a flagged figure's reason is :data:`UNPAIRED` (a pass this long is timed once), not noise that
    a larger ``--bench-budget`` or a quieter machine would cure."""
    return reason.startswith(UNPAIRED)


def very_long(*ms: float | None) -> bool:
    """Whether any of these pass times (milliseconds; None: unknown) is over :data:`VERY_LONG_PASS_S`."""
    return max((m or 0.0 for m in ms), default=0.0) > VERY_LONG_PASS_S * 1e3


@dataclass
class PairedTiming:
    """What a paired measurement found."""

    variant_ms: np.ndarray
    dense_ms: np.ndarray
    warmup: int

    @property
    def ratios(self) -> np.ndarray:
        return self.dense_ms / self.variant_ms

    def speedup(self) -> tuple[float, float, float]:
        """Median of the per-pair ratios and its 95% confidence interval."""
        return median_with_ci(self.ratios)


def median_with_ci(values: np.ndarray) -> tuple[float, float, float]:
    """The median and a distribution-free 95% confidence interval (order statistics n/2 ± 1.96 sqrt(n)/2)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = v.size
    k = 1.96 * np.sqrt(n) / 2
    lo, hi = v[max(0, int(np.floor(n / 2 - k)))], v[min(n - 1, int(np.ceil(n / 2 + k)))]
    return float(np.median(v)), float(lo), float(hi)


def wall_timer(
    sync: Callable[[], None] | None = None, clock: Callable[[], float] = time.perf_counter
) -> Callable[[Callable[[], object]], float]:
    """Milliseconds one call takes by ``clock``, after ``sync`` (e.g. ``torch.cuda.synchronize``) if given."""

    def timed(fn: Callable[[], object]) -> float:
        t0 = clock()
        fn()
        if sync:
            sync()
        return (clock() - t0) * 1e3

    return timed


def cuda_event_timer() -> Callable[[Callable[[], object]], float]:
    """Milliseconds one call takes on the current CUDA stream, by CUDA events recorded around it after a
    ``torch.cuda.synchronize()`` (host-side launch jitter is not counted; the GPU's time is)."""
    import torch

    def timed(fn: Callable[[], object]) -> float:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))

    return timed


def time_paired(
    variant: Callable[[], object],
    dense: Callable[[], object],
    *,
    budget_s: float = 1.0,
    min_pairs: int = 10,
    max_pairs: int = 500,
    warmup: int = 3,
    precision: float = PRECISION,
    sync: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    timer: Callable[[Callable[[], object]], float] | None = None,
    dense_hint_ms: float | None = None,
) -> PairedTiming:
    """Warm both up, then time pairs in ABBA order until the median ratio is known to ``precision``
    (checked every 10 pairs, after ``min_pairs``) or ``budget_s`` is spent.  ``timer`` measures one call
    (default: ``clock``, after ``sync``).  When the first call of either takes over :data:`LONG_PASS_S`, one
    warm-up pair and :data:`LONG_RUNS` pairs are timed; when the variant's first call, or the dense model's
    (``dense_hint_ms``, its run at the start), takes over :data:`VERY_LONG_PASS_S`, the variant's first call is the
    measurement and ``dense_ms`` is empty (not paired)."""
    timed = timer or wall_timer(sync, clock)

    alone = timed(variant)
    if very_long(alone, dense_hint_ms):  # one run, unpaired (said, without an interval)
        return PairedTiming(np.asarray([alone]), np.asarray([]), 0)
    first = max(alone, timed(dense))
    if first > LONG_PASS_S * 1e3:  # a large graph: fewer repeats (said in the result's note)
        warmup, min_pairs, budget_s = 1, LONG_RUNS, 0.0
    for _ in range(warmup - 1):
        timed(variant)
        timed(dense)
    v_ms: list[float] = []
    d_ms: list[float] = []
    start = clock()
    while len(v_ms) < max_pairs and (len(v_ms) < min_pairs or clock() - start < budget_s):
        if len(v_ms) % 2 == 0:
            v, d = timed(variant), timed(dense)
        else:
            d, v = timed(dense), timed(variant)
        v_ms.append(v)
        d_ms.append(d)
        n = len(v_ms)
        if n >= max(min_pairs, 20) and n % 10 == 0:
            med, lo, hi = median_with_ci(np.asarray(d_ms) / np.asarray(v_ms))
            if (hi - lo) / 2 <= precision * med:
                break
    return PairedTiming(np.asarray(v_ms), np.asarray(d_ms), warmup)


def noise_reasons(timing: PairedTiming, dense_baseline_ms: float | None) -> list[str]:
    """Why a paired speed-up should not be trusted; empty when it can be."""
    reasons = []
    med, lo, hi = timing.speedup()
    if med > 0 and (hi - lo) / 2 > NOISY_HALF_WIDTH * med:
        reasons.append(f"its 95% interval is ±{100 * (hi - lo) / 2 / med:.0f}%, wider than ±10%")
    if dense_baseline_ms and dense_baseline_ms > 0:
        drift = float(np.median(timing.dense_ms)) / dense_baseline_ms - 1
        if abs(drift) > DRIFT_TOLERANCE:
            reasons.append(
                f"the dense model ran {100 * abs(drift):.0f}% {'slower' if drift > 0 else 'faster'} than "
                "at the start of the run (the machine's load changed)"
            )
    load = machine_load()
    if load is not None and load > (os.cpu_count() or 1):
        reasons.append(f"the machine was busy (load average {load:.1f} on {os.cpu_count()} cores)")
    return reasons


def machine_load() -> float | None:
    """The 1-minute load average, where the system has one."""
    try:
        return float(os.getloadavg()[0])
    except (OSError, AttributeError):
        return None
