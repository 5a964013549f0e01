"""Benchmark: the full default metric set for one variant on stochastic-block-model graphs.

    .venv/bin/python benchmarks/metrics_scale.py                 # 10^4, 10^5 and 10^6 nodes
    .venv/bin/python benchmarks/metrics_scale.py --nodes 100000  # one size

Each size runs in its own process so that its peak memory (max RSS) is its own.
The graph has about 10 directed edges per node (10^6 nodes: ~10^7 edges); the
"dense" embedding is 64-dimensional (class signal plus noise) and the "pruned"
one a noisy 32-dimensional projection of it, as a structured-pruned layer would
be. Every registered default metric is run exactly as `gnneval evaluate` runs it
(variant metrics once, layer metrics on the layer), and the time of each is
printed. Target (issue 4): 10^6 nodes within 3 minutes and 8 GiB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def run_one(nodes: int, seed: int = 0) -> dict:
    import numpy as np

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.builtin.datasets.synthetic import make_sbm
    from gnneval.plugin import GraphData, MetricInputs

    t0 = time.perf_counter()
    data = make_sbm(nodes=nodes, blocks=8, avg_degree=10.0, features=8, seed=seed)
    graph = GraphData("sbm", "node-classification", data, 8, 8, "generated").arrays()
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((8, 64)).astype(np.float32)
    dense_emb = means[graph.y] + 1.5 * rng.standard_normal((nodes, 64), dtype=np.float32)
    proj = rng.standard_normal((64, 32)).astype(np.float32) / 8
    pruned_emb = dense_emb @ proj + 0.2 * rng.standard_normal((nodes, 32), dtype=np.float32)
    logits_d = dense_emb @ rng.standard_normal((64, 8)).astype(np.float32)
    logits_p = logits_d + rng.standard_normal(logits_d.shape, dtype=np.float32)
    from gnneval.plugin import VariantOutputs

    dense = VariantOutputs(logits_d, logits_d.argmax(1), {"convs.0": dense_emb})
    variant = VariantOutputs(logits_p, logits_p.argmax(1), {"convs.0": pruned_emb})
    setup = time.perf_counter() - t0

    reg = build_plugin_host().registry
    times = {}
    t_all = time.perf_counter()
    for name in reg.default_names("metric"):
        cls = reg.get("metric", name).obj
        if cls.tasks is not None and graph.task not in cls.tasks:
            continue  # as in `gnneval evaluate`: e.g. link-prediction metrics on a node-classification graph
        t = time.perf_counter()
        if cls.level == "layer":
            cls().compute(MetricInputs(graph, variant, dense, seed, "convs.0", pruned_emb, dense_emb))
        else:
            cls().compute(MetricInputs(graph, variant, dense, seed))
        times[name] = round(time.perf_counter() - t, 3)
    total = time.perf_counter() - t_all
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {
        "nodes": nodes,
        "edges": graph.num_edges,
        "setup_s": round(setup, 2),
        "metrics_s": round(total, 2),
        "peak_rss_gib": round(peak, 2),
        "per_metric_s": times,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, action="append", help="graph size (repeatable)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.nodes[0])))
        return 0
    rows = []
    for n in args.nodes or [10_000, 100_000, 1_000_000]:
        res = subprocess.run([sys.executable, __file__, "--child", "--nodes", str(n)], capture_output=True, text=True)
        if res.returncode != 0:
            print(f"{n:>9,} nodes: failed\n{res.stderr[-2000:]}")
            continue
        row = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(row)
        slowest = sorted(row["per_metric_s"].items(), key=lambda kv: -kv[1])[:4]
        print(
            f"{row['nodes']:>9,} nodes {row['edges']:>11,} edges: metrics {row['metrics_s']:7.2f} s, "
            f"peak RSS {row['peak_rss_gib']:.2f} GiB (graph set-up {row['setup_s']:.1f} s); slowest: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in slowest),
            flush=True,
        )
    for a, b in zip(rows, rows[1:]):
        print(f"x{b['nodes'] / a['nodes']:.0f} nodes -> x{b['metrics_s'] / max(a['metrics_s'], 1e-9):.1f} time")
    big = [r for r in rows if r["nodes"] >= 1_000_000]
    for r in big:
        ok = r["metrics_s"] <= 180 and r["peak_rss_gib"] <= 8
        print(
            f"target 10^6 nodes within 180 s and 8 GiB: {'met' if ok else 'NOT met'} "
            f"({r['metrics_s']:.1f} s, {r['peak_rss_gib']:.2f} GiB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
