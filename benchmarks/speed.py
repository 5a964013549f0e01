"""Benchmark: the performance targets of gnneval's benchmark runner, measured side by side in one run.

    .venv/bin/python benchmarks/speed.py [--data-root ../shared/datasets] [--device cpu|cuda]

1. Structured pruning of zoo/gcn_cora.pt at 50% channel sparsity: measured PyTorch speed-up against the
   speed-up its FLOP count predicts (target: measured >= 0.8 x predicted).
2. ONNX Runtime against PyTorch eager for the zoo GCN on Cora (target: ORT no slower), with the default
   sparse-adjacency export and, beside it, the plain scatter exports.
3. Wall time of benchmarking one variant on the default backends (target: about 2 s on the CPU), beside
   the TorchScript exporter and the scatter export.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--budget", type=float, default=1.0, help="seconds of timed runs per measurement")
    args = ap.parse_args()

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.bench.backends import BenchSettings, bench_onnxruntime, bench_torch, choose_providers, run_backends
    from gnneval.core.problems import ProblemLog, collecting
    from gnneval.load.inputs import LoadSettings, load_for_evaluation
    from gnneval.model.counting import count_flops
    from gnneval.plugin import PruneContext

    host = build_plugin_host()
    problems = ProblemLog()
    collecting(problems).__enter__()  # the whole script's problems
    loaded = load_for_evaluation(
        LoadSettings(REPO / "zoo" / "gcn_cora.pt", data_root=args.data_root, device=args.device), host.registry
    )
    ckpt, graph, device = loaded.ckpt, loaded.graph, loaded.device
    dense = ckpt.model.eval()
    pruned = (
        host.registry.get("pruner", "structured")
        .obj()
        .prune(copy.deepcopy(dense), 0.5, PruneContext(graph, "gcn", seed=0))
        .model.eval()
    )

    # 1. measured against predicted speed-up (interleaved, so drift hits both alike)
    d_ms, p_ms = [], []
    for _ in range(3):
        d_ms.append(bench_torch(dense, graph, device=device, budget_s=args.budget).median_ms)
        p_ms.append(bench_torch(pruned, graph, device=device, budget_s=args.budget).median_ms)
    measured = min(d_ms) / min(p_ms)
    predicted = count_flops(dense, graph)[0] / count_flops(pruned, graph)[0]
    print(
        f"1. structured 50% on Cora, PyTorch {device}: dense {min(d_ms):.2f} ms, pruned {min(p_ms):.2f} ms -> "
        f"measured speed-up {measured:.2f}x, FLOP-predicted {predicted:.2f}x, ratio {measured / predicted:.2f} "
        f"(target >= 0.80: {'met' if measured >= 0.8 * predicted else 'NOT met'})"
    )

    # 2. ONNX Runtime against eager, same machine, same run: the default (sparse-adjacency) export and the
    #    plain scatter exports beside it, so the effect of the fix is visible
    providers = choose_providers(device, None)
    forms = [
        ("default: sparse adjacency", "auto", "auto"),
        ("scatter, dynamo exporter", "scatter", "dynamo"),
        ("scatter, TorchScript exporter", "scatter", "torchscript"),
    ]
    ort_runs, eager_ms = [], []
    for label, onnx_graph, exporter in forms:
        r = bench_onnxruntime(
            dense, graph, providers=providers, budget_s=args.budget, exporter=exporter, onnx_graph=onnx_graph
        )
        eager_ms.append(bench_torch(dense, graph, device=device, budget_s=args.budget).median_ms)
        ort_runs.append((label, r))
    eager = min(eager_ms)
    for label, r in ort_runs:
        if r.status != "ok":
            print(f"2. ONNX Runtime ({label}): {r.status}: {r.note}")
            continue
        target = (
            f" (target <= 1.00: {'met' if r.median_ms <= eager else 'NOT met'})" if label.startswith("default") else ""
        )
        print(
            f"2. ONNX Runtime ({label}; {r.providers}, {r.threads} threads): {r.median_ms:.2f} ms against "
            f"PyTorch eager {eager:.2f} ms -> ORT / eager {r.median_ms / eager:.2f}{target}; export "
            f"{r.setup_s:.2f} s, max |diff| {r.max_abs_diff:.2g}"
        )

    # 3. cost of benchmarking one variant with the defaults (torch + onnxruntime, adaptive runs, 0.5 s cap each)
    def wall(**kw) -> float:
        t = time.perf_counter()
        run_backends(pruned, graph, BenchSettings(backends=("torch", "onnxruntime"), budget_s=0.5, **kw), device=device)
        return time.perf_counter() - t

    default = wall(exporter="auto")
    ts = wall(exporter="torchscript")
    scatter = wall(exporter="auto", onnx_graph="scatter")
    print(
        f"3. benchmarking one variant (torch + onnxruntime; adaptive run counts, at most 0.5 s of runs each): "
        f"{default:.2f} s with the defaults (sparse form, dynamo exporter; target about 2 s: "
        f"{'met' if default <= 2.2 else 'NOT met'}); {ts:.2f} s with --onnx-exporter torchscript; {scatter:.2f} s "
        f"with --onnx-graph scatter"
    )
    for p in problems:
        print(f"problem: {p.where}: {p.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
