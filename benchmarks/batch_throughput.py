"""Benchmark: `gnneval batch` throughput with 1 and 2 local workers and with Ray, side by side in one run.

    .venv/bin/python benchmarks/batch_throughput.py [--data-root ../shared/datasets] [--count 20]

Makes --count checkpoints (GCN, GraphSAGE and GAT of several widths on Cora and CiteSeer, briefly
trained; half native checkpoints, half bare state_dicts listed in a manifest with their dataset), then
batch-evaluates them three times into fresh folders (structured pruning at 0.5, accuracy and CKA, no
pictures, no timing) and prints checkpoints per minute and the ratios. Targets (issue 8): 2 workers
>= 1.6x one worker on this 2-core machine; Ray's overhead over the local pool < 25%.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_zoo(root: Path, count: int, data_root: str) -> Path:
    import torch
    import torch.nn.functional as F

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.core.paths import default_cache_dir
    from gnneval.load.datasets import load_dataset
    from gnneval.plugin import DatasetContext, DatasetRef
    from gnneval.store.checkpoints import save_checkpoint

    reg = build_plugin_host().registry
    graphs = {
        n: load_dataset(reg, DatasetRef(n, "planetoid"), DatasetContext(Path(data_root), default_cache_dir(), 0))[0]
        for n in ("Cora", "CiteSeer")
    }
    archs = [("gcn", {}), ("sage", {}), ("gat", {"heads": 4})]
    entries = []
    for i in range(count):
        arch, extra = archs[i % 3]
        name = ("Cora", "CiteSeer")[(i // 3) % 2]
        hidden = (16, 32, 64)[(i // 6) % 3]
        g = graphs[name]
        torch.manual_seed(i)
        kwargs = {
            "in_channels": g.num_features,
            "hidden_channels": hidden,
            "out_channels": g.num_classes,
            "num_layers": 2,
            **extra,
        }
        model = reg.build_architecture(arch, **kwargs)
        opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
        d = g.data
        for _ in range(30):
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(d.x, d.edge_index)[d.train_mask], d.y[d.train_mask]).backward()
            opt.step()
        model.eval()
        path = root / f"{i:02d}_{arch}_{name}_{hidden}.pt"
        if i % 2 == 0:
            save_checkpoint(
                path,
                model=model,
                architecture=arch,
                architecture_kwargs=kwargs,
                task="node-classification",
                dataset=DatasetRef(name, "planetoid"),
                metrics={},
                training={"seed": i, "epochs": 30, "recipe": "benchmarks/batch_throughput.py"},
            )
            entries.append({"path": path.name})
        else:
            torch.save(model.state_dict(), path)  # bare: the loader infers the architecture
            entries.append({"path": path.name, "dataset": name})
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"checkpoints": entries}))
    return manifest


def run(manifest: Path, out: Path, data_root: str, *extra: str) -> float:
    cmd = [
        sys.executable,
        "-m",
        "gnneval",
        "batch",
        str(manifest),
        "--out",
        str(out),
        "--pruner",
        "structured",
        "--sparsity",
        "0.5",
        "--no-bench",
        "--visualisers",
        "",
        "--metrics",
        "accuracy,linear-cka",
        "--data-root",
        data_root,
        "--no-progress",
        *extra,
    ]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        print(res.stdout[-2000:], res.stderr[-2000:])
        raise SystemExit(f"batch {' '.join(extra)} failed")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "datasets"))
    ap.add_argument("--count", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        manifest = make_zoo(tmp / "zoo", args.count, args.data_root) if (tmp / "zoo").mkdir() is None else None
        print(f"made {args.count} checkpoints in {time.perf_counter() - t:.1f} s")
        walls = {}
        for label, extra in (
            ("1 local worker", ("--jobs", "1")),
            ("2 local workers", ("--jobs", "2")),
            ("Ray, local cluster", ("--executor", "ray")),
        ):
            walls[label] = run(manifest, tmp / label.replace(" ", "_").replace(",", ""), args.data_root, *extra)
            print(
                f"{label:20s}: {walls[label]:6.1f} s = {60 * args.count / walls[label]:5.1f} checkpoints/min",
                flush=True,
            )
    one, two, ray = walls["1 local worker"], walls["2 local workers"], walls["Ray, local cluster"]
    print(
        f"2 workers / 1 worker throughput: {one / two:.2f}x (target >= 1.6: {'met' if one / two >= 1.6 else 'NOT met'})"
    )
    print(
        f"Ray overhead over the 2-worker local pool: {100 * (ray / two - 1):+.0f}% "
        f"(target < 25%: {'met' if ray / two < 1.25 else 'NOT met'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
