"""Benchmark: every non-topology similarity measure for one layer pair at graph scale.

    .venv/bin/python benchmarks/similarity_scale.py [--sizes 10000,100000,1000000] [--dim 64] [--out DIR]

For n nodes × 64 dimensions (a dense-like representation Y and a perturbed, partly mixed X, float32 as
gnneval stores embeddings), each measure runs through its metric's ``compute`` exactly as in a run: O(n²)
measures on the run's seeded node sample (--metric-sample, default 2000), the rest on every node.  Reports
seconds and peak memory (tracemalloc: NumPy's allocations) per measure, and the whole set's totals; target:
the whole set at 10⁶ nodes within 2 minutes and 8 GiB on 2 cores.  Writes ``<out>/similarity_scale.md``.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def measures() -> dict[str, type]:
    from gnneval.builtin.metrics.repsim import LAYER_MEASURES
    from gnneval.builtin.metrics.similarity import KnnOverlap, LinearCKA, Procrustes, RbfCKA

    return {
        "linear-cka": LinearCKA,
        "rbf-cka": RbfCKA,
        "procrustes": Procrustes,
        "knn-overlap": KnnOverlap,
        **LAYER_MEASURES,
    }


def inputs(n: int, d: int, sample: int):
    from gnneval.plugin import GraphArrays, MetricInputs, VariantOutputs

    rng = np.random.default_rng(0)
    y = rng.normal(size=(n, d)).astype(np.float32)
    x = y @ (np.eye(d) + 0.3 * rng.normal(size=(d, d))).astype(np.float32) + 0.4 * rng.normal(size=(n, d)).astype(
        np.float32
    )
    graph = GraphArrays(
        "synthetic",
        "node-classification",
        np.zeros(n, np.int64),
        {"test": np.ones(n, bool)},
        np.zeros((2, 0), np.int64),
        2,
        d,
    )
    out = VariantOutputs(np.zeros((1, 2), np.float32), np.zeros(1, np.int64), {"l": x})
    dense = VariantOutputs(out.logits, out.predictions, {"l": y})
    return MetricInputs(graph, out, dense, 0, "l", x, y, sample_size=sample, bootstrap=0)


def run_size(n: int, d: int, sample: int) -> list[tuple[str, float, float, str]]:
    inp = inputs(n, d, sample)
    rows = []
    for name, cls in measures().items():
        tracemalloc.start()
        t0 = time.perf_counter()
        value = cls().compute(inp).get("dense", float("nan"))
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        where = (
            "sample"
            if getattr(getattr(cls, "props", None), "sampled", name in ("rbf-cka", "knn-overlap"))
            else "all nodes"
        )
        rows.append((name, seconds, peak / 2**20, where))
        print(
            f"n={n:>9,} {name:24s} {seconds:8.2f} s {peak / 2**20:9.0f} MiB  ({where}; value {value:.4f})", flush=True
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--sample", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = ap.parse_args()
    import os

    sizes = [int(s) for s in args.sizes.split(",")]
    results = {n: run_size(n, args.dim, args.sample) for n in sizes}
    names = [r[0] for r in results[sizes[0]]]
    lines = [
        f"# Similarity measures at scale ({args.dim}-d, node sample {args.sample}, {os.cpu_count()} cores)",
        "",
        "Seconds / peak MiB per measure for one layer pair (tracemalloc: NumPy's allocations).",
        "",
        "| measure | nodes used | " + " | ".join(f"n = {n:,}" for n in sizes) + " |",
        "|---|---|" + "---|" * len(sizes),
    ]
    for i, name in enumerate(names):
        cells = [f"{results[n][i][1]:.2f} s / {results[n][i][2]:.0f} MiB" for n in sizes]
        lines.append(f"| {name} | {results[sizes[0]][i][3]} | " + " | ".join(cells) + " |")
    totals = [f"{sum(r[1] for r in results[n]):.1f} s / {max(r[2] for r in results[n]):.0f} MiB" for n in sizes]
    lines.append("| **all (sum of seconds, largest peak)** | | " + " | ".join(totals) + " |")
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "similarity_scale.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
