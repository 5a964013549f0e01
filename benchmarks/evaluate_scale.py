"""Benchmark: the default ``gnneval evaluate`` of a 3-layer GCN (hidden 128) on seeded SBM graphs of growing size —
two pruners x two sparsities, benchmarks included — with wall time and peak RSS per run and per stage.

    .venv/bin/python benchmarks/evaluate_scale.py                          # 10^4 and 10^5 nodes
    .venv/bin/python benchmarks/evaluate_scale.py --sizes 100000,1000000,products --json rows.json

``products`` is ogbn-products' size: 2.4M nodes, 62M edges (average degree 26), 100 features, 47 classes, which
the built-in ``sbm`` dataset generates seeded.  Each size runs ``gnneval evaluate`` in its own process, whose
``/proc/<pid>/status`` is read every 0.2 s: each stage's peak RSS (the first stage's from ``VmHWM``), the run's
the largest of them.  A run that cannot finish says
why in its one line (e.g. the full-graph pass running out of memory), which is recorded as the result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gnneval.core.defaults import PROGRESS_FILE_ENV

SIZES = {"products": (2_400_000, 26.0)}
"""Named sizes: nodes, average degree."""


def checkpoint(folder: Path, nodes: int, degree: float) -> Path:
    import torch
    from torch_geometric.nn.models import GCN

    from gnneval.plugin import DatasetRef
    from gnneval.store.checkpoints import save_checkpoint

    torch.manual_seed(0)
    kw = {"in_channels": 100, "hidden_channels": 128, "out_channels": 47, "num_layers": 3}
    options = {"nodes": nodes, "avg_degree": degree, "features": 100, "blocks": 47}
    return save_checkpoint(folder / f"gcn_{nodes}.pt", model=GCN(**kw), architecture="gcn", architecture_kwargs=kw,
                           task="node-classification", dataset=DatasetRef("sbm", loader="sbm", options=options),
                           metrics={}, training={"note": "untrained: the benchmark measures cost, not accuracy"})  # fmt: skip


def run_size(name: str, folder: Path) -> dict:
    nodes, degree = SIZES[name] if name in SIZES else (int(name), 10.0)
    ckpt = checkpoint(folder, nodes, degree)
    out = folder / f"run_{nodes}"
    cmd = [sys.executable, "-m", "gnneval", "evaluate", str(ckpt), "--pruner", "magnitude,structured",
           "--sparsity", "0.5,0.9", "--out", str(out), "--no-progress"]  # fmt: skip
    t0 = time.perf_counter()
    progress = folder / f"progress_{nodes}.json"
    env = {**os.environ, PROGRESS_FILE_ENV: str(progress)}
    with open(folder / f"stderr_{nodes}.txt", "w+") as err:
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, text=True, env=env)
        stages = watch(child, progress)
        err.seek(0)
        stderr = err.read()
    wall = time.perf_counter() - t0
    peak = max((s["peak_rss_gib"] for s in stages), default=0.0)  # this child's own (RUSAGE_CHILDREN: all of them)
    anon = max((s["peak_anon_gib"] for s in stages), default=0.0)
    row = {"size": name, "nodes": nodes, "avg_degree": degree, "exit": child.returncode, "wall_s": round(wall, 1),
           "peak_rss_gib": peak, "peak_anon_gib": anon, "stages": stages}  # fmt: skip
    said = [ln for ln in stderr.splitlines() if ln.startswith(("inference:", "embeddings stored:"))]
    if said:
        row["said"] = said
    error = next((ln for ln in stderr.splitlines() if ln.startswith("gnneval: error:")), "")
    if error:
        row["error"] = error
    if (out / "run.h5").is_file():
        import gnneval

        run = gnneval.read_run(out)
        row["edges"] = run.graph.num_edges
        row["dense_s"] = round(run.dense.seconds, 1)
        row["variant_s"] = [round(v.seconds, 1) for v in run.variants if v.pruner]
        row["bench_s"] = round(sum(v.details.get("bench_wall_s", 0.0) for v in run.variants), 1)
    return row


def watch(child: subprocess.Popen, progress: Path) -> list[dict]:
    """Until ``child`` exits: each stage's wall time and the process's peak RSS during it (``/proc/<pid>/status``
    read every 0.2 s).  The run's progress file names each stage as it ends: ``dense`` (loading the checkpoint
    and dataset, measuring and timing the dense model), then each variant; the last stage is the pictures and
    the report."""
    stages: list[dict] = []
    last, peak, anon, seen = time.perf_counter(), 0, 0, ""

    def close(name: str) -> None:
        stages.append({"stage": name, "s": round(time.perf_counter() - last, 1), "peak_rss_gib": round(peak / 2**30, 2),
                       "peak_anon_gib": round(anon / 2**30, 2)})  # fmt: skip

    while child.poll() is None:
        peak = max(peak, _rss(child.pid, "VmHWM:" if not stages else "VmRSS:"))
        anon = max(anon, _rss(child.pid, "RssAnon:"))
        now = _now(progress)
        if now and now != seen:
            close("load + dense model" if now == "dense" else f"variant {now}")
            seen, last, peak, anon = now, time.perf_counter(), 0, 0
        time.sleep(0.2)
    close("pictures + report")
    return stages


def _now(progress: Path) -> str:
    try:
        return str(json.loads(progress.read_text()).get("now", ""))
    except (OSError, ValueError):
        return ""


def _rss(pid: int, field: str = "VmRSS:") -> int:
    """The child's resident memory (``VmRSS``), or its high-water mark so far (``VmHWM``: the first stage's
    peak, which sampling could miss), or its anonymous part (``RssAnon``: without the file pages it has mapped,
    such as the memory-mapped dense outputs it read)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="node counts, or 'products', comma-separated")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gnneval-scale-") as tmp:
        for name in args.sizes.split(","):
            row = run_size(name.strip(), Path(tmp))
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
