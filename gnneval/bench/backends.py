"""The benchmark runner: latency of a model variant on PyTorch and ONNX Runtime, measured honestly.

Backends:

- ``torch``: PyTorch eager, on the CPU or CUDA (timed with synchronisation).
- ``torch-compile``: ``torch.compile`` (opt-in; compilation time is reported, not timed).
- ``onnxruntime``: an ONNX export of the variant (exporters tried as :func:`gnneval.core.defaults.auto_exporter`
  says) run by ONNX Runtime with explicitly chosen execution providers
  and graph optimisation level.  Every export is checked against PyTorch on the same input; a variant
  whose outputs disagree beyond a tolerance is flagged (``status="mismatch"``) and not timed.

Each measurement warms up (at least 3 calls and 0.1 s), then times repeated calls, adaptively: at least
10 runs, then until the median is known to ±2% (95% confidence, order statistics) or the time budget
is spent (default 0.5 s); the median, p10/p90, runs, threads, throughput (nodes/s), peak memory (CUDA
max allocated, or process RSS growth on the CPU) are stored.
"""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gnneval.bench import BACKENDS, DEFAULT_BACKENDS, ONNX_GRAPHS  # noqa: F401 - used by callers too
from gnneval.bench.export import export_onnx, export_with_fallback  # noqa: F401 - re-exported
from gnneval.core import defaults
from gnneval.core.errors import UsageError, one_line
from gnneval.core.problems import report
from gnneval.core.records import BenchResult, VariantOutputs

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gnneval.core.contract import GraphData

EXPORT_TOLERANCE = 1e-3  #: max |ORT - torch| allowed, relative to max |torch output| (at least 1)
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


PRECISION = 0.02  #: stop timing once the 95% confidence interval of the median is within ±2% of it


def median_ci_halfwidth(times: np.ndarray) -> float:
    """Half-width of a distribution-free 95% confidence interval of the median (order statistics
    ``n/2 ± 1.96 sqrt(n)/2``), in the units of ``times``."""
    t = np.sort(np.asarray(times))
    n = t.size
    k = 1.96 * np.sqrt(n) / 2
    lo, hi = t[max(0, int(np.floor(n / 2 - k)))], t[min(n - 1, int(np.ceil(n / 2 + k)))]
    return float(hi - lo) / 2


def time_runs(
    fn: Callable[[], object],
    *,
    budget_s: float = 0.5,
    warmup: int = 3,
    warmup_s: float = 0.1,
    min_runs: int = 10,
    max_runs: int = 1000,
    precision: float | None = PRECISION,
    sync: Callable[[], None] | None = None,
    timer: Callable[[Callable[[], object]], float] | None = None,
) -> tuple[np.ndarray, int]:
    """Warm up (at least ``warmup`` calls and ``warmup_s`` seconds), then call ``fn`` repeatedly: at least
    ``min_runs`` times, then until the median is known to ``precision`` (relative half-width of its 95%
    confidence interval, checked every 10 runs; None: never stop early) or ``budget_s`` is spent, at most
    ``max_runs``.  Adaptive: a fast, steady model stops after a few dozen runs, a noisy one uses the budget;
    one whose first call takes over ``LONG_PASS_S`` (1 s) gets one warm-up and ``LONG_RUNS`` timed runs, and
    over ``VERY_LONG_PASS_S`` (10 s) that first call is the one timed run.
    Returns per-run milliseconds and the number of warm-up calls.  ``timer`` measures one call (default: the
    wall clock, after ``sync``)."""
    from gnneval.bench.paired import LONG_PASS_S, LONG_RUNS, very_long, wall_timer

    timed = timer or wall_timer(sync)
    start = time.perf_counter()
    first = timed(fn)
    if very_long(first):  # the first call is the measurement (said in the result's note)
        return np.asarray([first]), 0
    if first > LONG_PASS_S * 1e3:  # a large graph: fewer repeats (said in the result's note)
        warmup, warmup_s, min_runs, budget_s = 1, 0.0, LONG_RUNS, 0.0
    done = 1
    while done < warmup or time.perf_counter() - start < warmup_s:
        fn()
        if sync:
            sync()
        done += 1
    warmup = done
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < min_runs or time.perf_counter() - start < budget_s):
        times.append(timed(fn))
        n = len(times)
        if (
            precision
            and n >= max(min_runs, 20)
            and n % 10 == 0
            and median_ci_halfwidth(np.asarray(times)) <= precision * float(np.median(times))
        ):
            break
    return np.asarray(times), warmup


def _rss_peak_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def _result(
    backend: str, device: str, times: np.ndarray, warmup: int, threads: int, nodes: int, peak: int, **extra
) -> BenchResult:
    median = float(np.median(times))
    if times.size < 10 and "note" in extra:
        runs = "1 timed run (the first call, no warm-up)" if times.size == 1 else f"{times.size} timed runs"
        extra["note"] += f"; {runs}, fewer than the usual 10: one pass takes {median / 1e3:.1f} s"
    return BenchResult(
        backend=backend,
        device=device,
        median_ms=median,
        p10_ms=float(np.percentile(times, 10)),
        p90_ms=float(np.percentile(times, 90)),
        runs=int(times.size),
        warmup=warmup,
        threads=threads,
        throughput_nodes_per_s=nodes / (median / 1e3),
        peak_memory_bytes=int(peak),
        **extra,
    )


def _failed(backend: str, device: str, note: str, status: str = "failed", **extra) -> BenchResult:
    nan = float("nan")
    return BenchResult(
        backend=backend,
        device=device,
        median_ms=nan,
        p10_ms=nan,
        p90_ms=nan,
        runs=0,
        warmup=0,
        threads=0,
        throughput_nodes_per_s=nan,
        peak_memory_bytes=0,
        note=note,
        status=status,
        **extra,
    )


def bench_torch(
    model: torch.nn.Module,
    graph: GraphData,
    *,
    device: str = "cpu",
    budget_s: float = 0.5,
    compile: bool = False,
    reference: Reference | None = None,
) -> BenchResult:
    """Latency of a full-graph forward pass in PyTorch eager mode (or ``torch.compile`` with ``compile``).
    With a ``reference`` (the dense model), eager timing is paired: see :mod:`gnneval.bench.paired`."""
    import torch

    from gnneval.model.forward import model_inputs

    model = model.to(device).eval()
    inputs = model_inputs(graph, device)
    if reference is not None and not compile:
        return _bench_paired(model, inputs, graph, device, budget_s, reference)
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    if sync:
        torch.cuda.reset_peak_memory_stats()
    setup = 0.0
    fn = model
    if compile:
        t0 = time.perf_counter()
        fn = torch.compile(model, dynamic=False)
        with torch.inference_mode():
            fn(*inputs)  # compile now, so compilation is not timed
        setup = time.perf_counter() - t0
    rss0 = _rss_peak_bytes()

    run = _eager(fn, inputs, graph)
    from gnneval.bench.paired import cuda_event_timer

    times, warmup = time_runs(run, budget_s=budget_s, sync=sync, timer=cuda_event_timer() if sync else None)
    peak = torch.cuda.max_memory_allocated() if sync else max(0, _rss_peak_bytes() - rss0)
    mode = ("torch.compile" if compile else "eager") + ("; CUDA events" if sync else "")
    return _result(
        "torch-compile" if compile else "torch",
        device,
        times,
        warmup,
        int(torch.get_num_threads()),
        graph.data.num_nodes,
        peak,
        setup_s=setup,
        note=f"{mode}; peak = " + ("CUDA max allocated" if sync else "process RSS growth"),
    )


@dataclass
class Reference:
    """The dense model a variant is timed against, and the dense model's own median from the run's start."""

    model: Any
    graph: Any
    baseline_ms: float | None = None
    ort_run: Callable[[], object] | None = None  #: the dense model's ONNX Runtime session, ready to run
    ort_baseline_ms: float | None = None
    onnx_graph: Any = None  #: the dense model's export (:class:`gnneval.bench.onnx_reuse.DenseGraph`)


def _eager(model, inputs: tuple, graph: Any = None) -> Callable[[], None]:
    """One inference call of ``model`` on ``inputs`` (run as ``graph.adjacency`` says), as a function to time."""
    import torch

    from gnneval.model.forward import inference_form

    def run() -> None:
        with torch.inference_mode(), inference_form(model, graph):
            model(*inputs)

    return run


def _dense_eager(ref: Reference, device: str) -> Callable[[], None]:
    from gnneval.model.forward import model_inputs

    return _eager(ref.model.to(device).eval(), model_inputs(ref.graph, device), ref.graph)


def _bench_paired(model, inputs: tuple, graph, device: str, budget_s: float, ref: Reference) -> BenchResult:
    import torch

    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    return _paired_result(
        "torch",
        _eager(model, inputs, graph),
        _dense_eager(ref, device),
        sync,
        device,
        graph,
        budget_s,
        ref.baseline_ms,
        int(torch.get_num_threads()),
        "eager, timed interleaved with the dense model (ABBA pairs); speed-up = median of the "
        "per-pair ratios; " + ("CUDA events; peak = CUDA max allocated" if sync else "peak = process RSS growth"),
    )


def _paired_result(
    backend: str,
    variant: Callable[[], object],
    dense: Callable[[], object],
    sync,
    device: str,
    graph,
    budget_s: float,
    baseline_ms: float | None,
    threads: int,
    note: str,
    **extra,
) -> BenchResult:
    """Time ``variant`` interleaved with ``dense`` (see :mod:`gnneval.bench.paired`) into a result; with a
    ``sync`` (PyTorch on CUDA), each call is timed by CUDA events and the peak is CUDA max allocated."""
    from gnneval.bench.paired import cuda_event_timer, noise_reasons, time_paired

    cuda = sync is not None and device.startswith("cuda")
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
    rss0 = _rss_peak_bytes()
    timing = time_paired(variant, dense, budget_s=2 * budget_s, sync=sync, timer=cuda_event_timer() if cuda else None,
                         dense_hint_ms=baseline_ms)  # fmt: skip
    peak = torch.cuda.max_memory_allocated() if cuda else max(0, _rss_peak_bytes() - rss0)
    if timing.dense_ms.size:
        speedup, lo, hi = timing.speedup()
        reasons = noise_reasons(timing, baseline_ms)
    else:  # one very long pass: divided into the dense model's own run at the start, not paired
        speedup, lo, hi, reasons = _unpaired_speedup(float(timing.variant_ms[0]), baseline_ms)
    return _result(
        backend,
        device,
        timing.variant_ms,
        timing.warmup,
        threads,
        graph.data.num_nodes,
        peak,
        speedup=speedup,
        speedup_ci_low=lo,
        speedup_ci_high=hi,
        paired_runs=int(timing.dense_ms.size),
        noisy=bool(reasons),
        noise="; ".join(reasons),
        note=note,
        **extra,
    )


def _single_run_result(
    backend: str, ms: float, baseline_ms: float | None, device: str, graph, threads: int, note: str, **extra
) -> BenchResult:
    """One very long run as the measurement: a variant's speed-up (with a ``baseline_ms``, the dense model's run
    at the start) without an interval and flagged, as :func:`_paired_result` does for one unpaired run."""
    if baseline_ms is None:
        return _result(backend, device, np.asarray([ms]), 0, threads, graph.data.num_nodes, 0, note=note, **extra)
    speedup, lo, hi, reasons = _unpaired_speedup(ms, baseline_ms)
    return _result(backend, device, np.asarray([ms]), 0, threads, graph.data.num_nodes, 0, speedup=speedup,
                   speedup_ci_low=lo, speedup_ci_high=hi, paired_runs=0, noisy=True, noise="; ".join(reasons),
                   note=note, **extra)  # fmt: skip


def _unpaired_speedup(ms: float, baseline_ms: float | None) -> tuple[float, float, float, list[str]]:
    """One very long unpaired run's (``ms``) speed-up over the dense model's run at the start, without an interval
    (the note says how long the pass took)."""
    from gnneval.bench.paired import UNPAIRED

    speedup = baseline_ms / ms if baseline_ms else float("nan")
    reasons = [f"{UNPAIRED}: the dense model's run at the start divided by this one, without an interval"]
    return speedup, float("nan"), float("nan"), reasons


def bench_torch_sparse(
    model, graph, *, device: str, budget_s: float, reference: Reference | None, sparse_input: bool, kernels: str
) -> BenchResult:
    """The ``torch-sparse`` backend (:mod:`gnneval.bench.sparse_kernels`): each linear layer on its fastest
    sparse or dense form, checked against eager PyTorch, timed interleaved with the dense model in *eager*
    PyTorch, so its speed-up is over plain dense PyTorch."""
    import torch

    from gnneval.bench.sparse_kernels import TOLERANCE, sparsify
    from gnneval.model.forward import model_inputs

    model = model.to(device).eval()
    inputs = model_inputs(graph, device)
    fast, lines = sparsify(model, inputs, sparse_input=sparse_input, kernels=kernels, device=device)
    with torch.inference_mode():
        want, got = model(*inputs), fast(*inputs)
    diff = float((got - want).abs().max())
    chosen = "; ".join(lines) or "no linear layer had a sparse form (weights over 50% non-zero, dense input)"
    if not diff <= TOLERANCE * max(1.0, float(want.abs().max())):
        return _failed(
            "torch-sparse",
            device,
            f"outputs disagree with eager PyTorch (max |diff| {diff:.3g}); not timed ({chosen})",
            status="mismatch",
            max_abs_diff=diff,
        )
    ref = reference or Reference(model, graph)
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    return _paired_result(
        "torch-sparse",
        _eager(fast, inputs),
        _dense_eager(ref, device),
        sync,
        device,
        graph,
        budget_s,
        ref.baseline_ms,
        int(torch.get_num_threads()),
        f"sparse kernels, speed-up over the dense model in eager PyTorch (paired); {chosen}",
        max_abs_diff=diff,
    )


def choose_providers(device: str, forced: Sequence[str] | None) -> list[str]:
    """Execution providers to ask for: ``forced`` if given (unavailable ones reported and dropped),
    else CUDA/TensorRT for ``device="cuda"`` where available, and always the CPU provider last."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if forced:
        chosen = []
        for p in forced:
            if p in available:
                chosen.append(p)
            else:
                report(
                    "onnxruntime",
                    f"execution provider {p} is not available in this onnxruntime build "
                    f"(available: {', '.join(available)})",
                )
        if not chosen:
            chosen = ["CPUExecutionProvider"]
    elif device.startswith("cuda"):
        chosen = [p for p in GPU_PROVIDERS if p in available]
    else:
        chosen = []
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


ARENA_NODES = 500_000
"""Above this many nodes ONNX Runtime's CPU memory arena is off: the arena keeps a session's peak activations for
its whole life, and the dense model's session lives for the run (GiBs at ogbn-products' size)."""


def _session(path: Path, providers: Sequence[str], threads: int, nodes: int = 0):
    import onnxruntime as ort

    so = ort.SessionOptions()
    if nodes > ARENA_NODES:
        so.enable_cpu_mem_arena = False
        so.enable_mem_pattern = False
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    # Idle intra-op threads must not spin: a variant's session is timed alternately with the dense model's,
    # and one's spinning threads would steal the cores from the other.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=list(providers))


def _plan(model, graph, providers: Sequence[str], onnx_graph: str) -> tuple[list[str], str]:
    """Which export forms to try, in order, and why the sparse form was left out (if it was)."""
    from gnneval.bench.onnx_sparse import why_not

    if onnx_graph == "scatter":
        return ["scatter"], ""
    reason = why_not(model, graph)
    if reason is None and any(p in GPU_PROVIDERS for p in providers):
        reason = "SparseToDenseMatMul has only a CPU kernel"
    if onnx_graph == "sparse":
        return ([], reason) if reason else (["sparse"], "")
    return (["scatter"], reason) if reason else (["sparse", "scatter"], "")


def bench_onnxruntime(
    model: torch.nn.Module,
    graph: GraphData,
    *,
    providers: Sequence[str],
    budget_s: float = 0.5,
    exporter: str = "auto",
    onnx_graph: str = "auto",
    workdir: Path | None = None,
    threads: int | None = None,
    reference: Reference | None = None,
    keep: dict[str, Any] | None = None,
    expected: VariantOutputs | None = None,
) -> BenchResult:
    """Export to ONNX, check against PyTorch, then time an ONNX Runtime session.

    ``onnx_graph`` picks how message passing is exported: ``sparse`` (aggregation as
    ``com.microsoft::SparseToDenseMatMul`` on a CSR adjacency input, see :mod:`gnneval.bench.onnx_sparse`),
    ``scatter`` (the exporters' own ``edge_index`` + ScatterElements graph) or ``auto`` (sparse where every
    layer supports it and the providers are CPU-only, else scatter; a sparse export that fails or disagrees
    with PyTorch falls back to scatter, and the reason is kept in the note).

    With a ``reference`` holding the dense model's session, the variant is timed interleaved with it and its
    speed-up is the median per-pair ratio; ``keep["onnxruntime"]``, if given, receives this session's runner
    (so the dense model's can be the reference of later variants)."""
    import torch

    from gnneval.model.forward import forward_pass, model_inputs

    threads = threads or int(torch.get_num_threads())
    device = "cuda" if any(p in GPU_PROVIDERS for p in providers) else "cpu"
    forms, skipped = _plan(model, graph, providers, onnx_graph)
    if not forms:
        return _failed(
            "onnxruntime",
            device,
            f"the sparse ONNX graph was asked for but cannot be used: {skipped}; use --onnx-graph auto or scatter",
        )
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory()
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    if expected is not None:  # the measuring pass's logits (at the stored rows): no pass of its own
        ref, rows = np.asarray(expected.logits), expected.rows
    else:
        with torch.inference_mode():
            ref, rows = forward_pass(model.cpu().eval(), graph, "cpu").float().numpy(), None  # as --inference says
    job = _OrtJob(
        model,
        graph,
        workdir / "model.onnx",
        exporter,
        providers,
        threads,
        device,
        ref,
        [t.cpu().numpy() for t in model_inputs(graph, "cpu", edges="edge_index")],  # ONNX takes edge_index
    )
    job.reference, job.keep, job.rows = reference, keep, rows
    from gnneval.bench.export import exporter_order

    attempts = [(form, name) for form in forms for name in exporter_order(exporter, model, form)]
    dense_graph = reference.onnx_graph if reference is not None else None
    if dense_graph is not None and exporter == "auto" and dense_graph.form in forms:
        attempts.insert(0, (dense_graph.form, "reuse"))  # an unstructured variant: the dense graph, new weights
    try:
        for i, (form, name) in enumerate(attempts):
            result, why = job.attempt(form, name, last=i == len(attempts) - 1, skipped=skipped, budget_s=budget_s)
            if result is not None:
                return result
            skipped = "; ".join(filter(None, [skipped, why]))
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if tmp is not None:
            tmp.cleanup()


class _OrtJob:
    """One ONNX Runtime benchmark: export a form, check it against PyTorch, time it."""

    def __init__(
        self,
        model,
        graph,
        path: Path,
        exporter: str,
        providers: Sequence[str],
        threads: int,
        device: str,
        ref: np.ndarray,
        arrays: list[np.ndarray],
    ) -> None:
        self.model, self.graph, self.path, self.exporter = model, graph, path, exporter
        self.providers, self.threads, self.device, self.ref, self.arrays = providers, threads, device, ref, arrays
        self.tol = EXPORT_TOLERANCE * max(1.0, float(np.abs(ref).max()))
        self.reference: Reference | None = None
        self.keep: dict[str, Any] | None = None
        self.rows: np.ndarray | None = None  #: the nodes ``ref`` holds, when a sample (None: every node)

    def attempt(
        self, form: str, exporter: str, *, last: bool, skipped: str | None, budget_s: float
    ) -> tuple[BenchResult | None, str]:
        """Try one form with one exporter: a result (timed, or a failure to report), or None and why to try the
        next attempt."""
        from gnneval.bench.export import remember_exporter

        t0 = time.perf_counter()
        try:
            used = self._export(form, exporter)
        except Exception as exc:  # noqa: BLE001 - fall back, or report
            if last:
                return _failed("onnxruntime", self.device, one_line(exc)[:300]), ""
            if exporter == "reuse":
                return None, ""  # structured, or a folded weight changed: export this variant afresh
            return None, f"{form} export with the {exporter} exporter failed: {one_line(exc)[:150]}"
        session = _session(self.path, self.providers, self.threads, int(self.graph.data.num_nodes))
        active = session.get_providers()
        on_gpu = active[0] in GPU_PROVIDERS
        run, fetch = self._runner(form, session, on_gpu)
        setup = time.perf_counter() - t0
        got = fetch()
        check_ms = (time.perf_counter() - t0 - setup) * 1e3  # the first run: the timing itself where it is long
        if self.rows is not None and got.shape[:1] == (int(self.graph.data.num_nodes),):
            got = got[self.rows]
        diff = float(np.abs(got - self.ref).max()) if got.shape == self.ref.shape else float("inf")
        size = sum(f.stat().st_size for f in self.path.parent.iterdir() if f.name.startswith(self.path.name))
        form_note = (
            "sparse adjacency (SparseToDenseMatMul on a CSR input)" if form == "sparse" else "edge_index (scatter)"
        ) + (f"; not used: {skipped}" if skipped else "")
        extra = {
            "max_abs_diff": diff,
            "model_bytes": size,
            "providers": ",".join(active),
            "setup_s": setup,
            "onnx_graph": form,
        }
        if not diff <= self.tol and not last:
            return None, f"{form} export with the {exporter} exporter disagreed with PyTorch (max |diff| {diff:.3g})"
        if diff <= self.tol and self.exporter == "auto":
            remember_exporter(self.model, form, used)
        for p in self.providers:
            if p != "CPUExecutionProvider" and p not in active:
                report(
                    "onnxruntime",
                    f"{p} was asked for but could not be used here (no CUDA device or libraries); "
                    f"ONNX Runtime ran on {', '.join(active)}",
                )
        if not diff <= self.tol:
            return _failed(
                "onnxruntime",
                self.device,
                f"outputs disagree with PyTorch (max |diff| {diff:.3g} > "
                f"{self.tol:.3g}); not timed ({used} exporter, {form_note})",
                status="mismatch",
                **extra,
            ), ""
        self._keep_for_variants(run, form, used)
        note = self._note(used, exporter, form, form_note, active)
        return self._timed(run, note, budget_s, extra, check_ms), ""

    def _note(self, used: str, exporter: str, form: str, form_note: str, active: list[str]) -> str:
        reused = " (the dense model's graph with this variant's weights: no new export)" if exporter == "reuse" else ""
        bound = active[0] in GPU_PROVIDERS and form != "sparse"
        return (
            f"{used} exporter{reused}, opset 18, ORT_ENABLE_ALL, {self.threads} intra-op threads; graph as {form_note}"
            + ("; inputs and output bound on the GPU (I/O binding)" if bound else "")
        )

    def _timed(
        self, run: Callable[[], Any], note: str, budget_s: float, extra: dict[str, Any], first_ms: float
    ) -> BenchResult:
        """Time the session: interleaved with the dense model's where there is one, else on its own; where its
        first run (the check) or the dense model's took over ``VERY_LONG_PASS_S``, that run is the measurement."""
        from gnneval.bench.paired import very_long

        baseline = self.reference.ort_baseline_ms if self.reference is not None else None
        if very_long(first_ms, baseline):  # a pair would take two such passes
            return _single_run_result("onnxruntime", first_ms, baseline, self.device, self.graph, self.threads,
                                      note + "; timed on the check's run", **extra)  # fmt: skip
        if self.reference is not None and self.reference.ort_run is not None:
            return _paired_result(
                "onnxruntime",
                run,
                self.reference.ort_run,
                None,
                self.device,
                self.graph,
                budget_s,
                self.reference.ort_baseline_ms,
                self.threads,
                note + "; timed interleaved with the dense model's session (ABBA pairs)",
                **extra,
            )
        rss0 = _rss_peak_bytes()
        times, warmup = time_runs(run, budget_s=budget_s)
        peak = max(0, _rss_peak_bytes() - rss0)
        return _result(
            "onnxruntime", self.device, times, warmup, self.threads, self.graph.data.num_nodes, peak, note=note, **extra
        )

    def _export(self, form: str, exporter: str) -> str:
        """Write this variant's ONNX graph to ``self.path``: exported afresh, or the dense graph with new weights."""
        from gnneval.bench.onnx_reuse import swap
        from gnneval.bench.onnx_sparse import export_sparse

        if exporter == "reuse":
            assert self.reference is not None
            return swap(self.reference.onnx_graph, self.model, self.path)
        export = export_sparse if form == "sparse" else export_onnx
        return export(self.model, self.graph, self.path, exporter)

    def _keep_for_variants(self, run: Callable[[], object], form: str, used: str) -> None:
        """The dense model's session and export, for pairing and reusing with later variants."""
        from gnneval.bench.onnx_reuse import bind

        if self.keep is None:
            return
        self.keep["onnxruntime"] = run
        try:
            self.keep["onnx_graph"] = bind(self.model, self.path, form, used)
        except Exception:  # noqa: BLE001 - without it, variants are exported afresh
            self.keep["onnx_graph"] = None

    def _sparse_feed(self) -> dict[str, Any]:
        """The sparse form's inputs (features and CSR adjacency as ONNX Runtime values), made once per graph and
        shared by every session on it: the dense model's and a variant's are alive together (GiBs at scale)."""
        import onnxruntime as ort

        from gnneval.bench.onnx_sparse import CsrAdjacency

        graph = self.graph
        kept = graph.data.__dict__.get("_gnneval_ort_feed")
        if kept is not None and kept[0] is graph.data.edge_index:
            return kept[1]
        adj = CsrAdjacency(graph)
        feed = {"x": ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(self.arrays[0])), "adj": adj.value}
        graph.data.__dict__["_gnneval_ort_feed"] = (graph.data.edge_index, feed, adj)  # adj owns the buffers
        return feed

    def _runner(self, form: str, session, on_gpu: bool) -> tuple[Callable[[], object], Callable[[], np.ndarray]]:
        """``(run, fetch)``: ``run`` is what is timed; ``fetch`` runs once and returns the output on the host.
        On a GPU provider the inputs and output live on the device through I/O binding, so no host-device copy
        happens inside ``run``."""
        import onnxruntime as ort

        if form == "sparse":
            feed = self._sparse_feed()
            sparse_run = lambda: session.run_with_ort_values(["out"], feed)  # noqa: E731
            return sparse_run, lambda: sparse_run()[0].numpy()
        if on_gpu:
            binding = session.io_binding()
            for meta, arr in zip(session.get_inputs(), self.arrays):
                binding.bind_ortvalue_input(
                    meta.name, ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(arr), "cuda", 0)
                )
            binding.bind_output(session.get_outputs()[0].name, "cuda", 0)

            def gpu_run() -> None:
                session.run_with_iobinding(binding)

            return gpu_run, lambda: (gpu_run(), binding.copy_outputs_to_cpu()[0])[1]
        plain = {i.name: v for i, v in zip(session.get_inputs(), self.arrays)}
        cpu_run = lambda: session.run(None, plain)[0]  # noqa: E731
        return cpu_run, cpu_run


@dataclass(frozen=True)
class BenchSettings:
    """The benchmark stage's settings (``--backends``, ``--bench-budget``, ``--providers``, ``--onnx-exporter``,
    ``--onnx-graph``, ``--sparse-input``, ``--sparse-kernels``; ``--no-bench`` turns the stage off)."""

    enabled: bool = True
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    budget_s: float = defaults.BENCH_BUDGET_S
    providers: tuple[str, ...] | None = None  #: force ONNX Runtime execution providers
    exporter: str = "auto"
    onnx_graph: str = "auto"
    sparse_input: bool = False
    sparse_kernels: str = defaults.SPARSE_KERNELS[0]


WHOLE_GRAPH = ("torch-sparse", "torch-compile", "onnxruntime")
"""Backends that run a graph in one pass (their own kernels or an exported graph): not timed under layer-wise
inference, whose per-edge messages would not fit."""


def run_backends(
    model,
    graph,
    settings: BenchSettings,
    *,
    device: str,
    workdir: Path | None = None,
    reference: Reference | None = None,
    keep: dict[str, Any] | None = None,
    expected: VariantOutputs | None = None,
) -> list[BenchResult]:
    """Benchmark ``model`` on every backend of ``settings``; failures become ``status="failed"`` results.
    With a ``reference`` (the dense model), timings are paired with it; ``keep`` receives what a later
    variant's reference needs (the ONNX Runtime session's runner); ``expected``: the model's outputs from the
    measuring pass, which the exports are checked against (else a pass of their own makes them)."""
    import copy

    s, budget_s = settings, settings.budget_s
    out = []
    for backend in s.backends:
        try:
            if backend in WHOLE_GRAPH and getattr(graph, "adjacency", "") == "layerwise":
                out.append(_failed(backend, device, "not timed: it runs the whole graph in one pass, and this run uses "
                                   "layer-wise inference (one pass's per-edge messages would not fit)", status="skipped"))  # fmt: skip
            elif backend == "torch":
                out.append(bench_torch(model, graph, device=device, budget_s=budget_s, reference=reference))
            elif backend == "torch-sparse":
                out.append(
                    bench_torch_sparse(
                        model,
                        graph,
                        device=device,
                        budget_s=budget_s,
                        reference=reference,
                        sparse_input=s.sparse_input,
                        kernels=s.sparse_kernels,
                    )
                )
            elif backend == "torch-compile":
                out.append(bench_torch(copy.deepcopy(model), graph, device=device, budget_s=budget_s, compile=True))
            elif backend == "onnxruntime":
                chosen = choose_providers(device, s.providers)
                out.append(
                    bench_onnxruntime(
                        copy.deepcopy(model),
                        graph,
                        providers=chosen,
                        budget_s=budget_s,
                        exporter=s.exporter,
                        onnx_graph=s.onnx_graph,
                        workdir=workdir,
                        reference=reference,
                        keep=keep,
                        expected=expected,
                    )
                )
            else:
                raise UsageError(f"unknown benchmark backend '{backend}'; use {', '.join(BACKENDS)}")
        except UsageError:
            raise
        except Exception as exc:  # noqa: BLE001 - one backend must not lose the others
            out.append(_failed(backend, device, one_line(exc)[:300]))
    return out
