"""Recipes for the zoo checkpoints beside gcn_cora.pt (which has its own recipe, train_gcn_cora.py).

Run from the repository root (set GNNEVAL_DATA or pass --data-root to a folder holding Cora/raw,
CiteSeer/raw and MUTAG/raw, or have internet):

    python zoo/train_zoo.py                    # all of them
    python zoo/train_zoo.py gin_mutag          # one

Every recipe is seeded and deterministic on the CPU (``torch.use_deterministic_algorithms``), builds
its model through gnneval's registered architectures and trains it with gnneval's own training loop
(:func:`gnneval.prune.training.train`: Adam, early stopping on the validation split, best state restored),
so the zoo also exercises what the pruners' fine-tuning uses.

- ``gat_cora``: 2-layer GAT on Cora (Velickovic et al. 2018: 8 heads of 8 channels, dropout 0.6,
  lr 0.005, weight decay 5e-4).
- ``sage_citeseer``: 2-layer GraphSAGE (mean) on CiteSeer, hidden 64.
- ``gin_mutag``: GIN graph classifier on MUTAG (3 GIN layers of 32 channels with BatchNorm MLPs, sum
  pooling, MLP head; Xu et al. 2019), seeded stratified 80/10/10 split.
- ``gcn_link_cora``: 2-layer GCN encoder (128 -> 64) for link prediction on Cora with a dot-product
  decoder; edges split with a seeded RandomLinkSplit (5% validation, 10% test); ROC-AUC.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

RECIPES = {
    "gat_cora": {
        "architecture": "gat",
        "dataset": "Cora",
        "loader": "planetoid",
        "task": "node-classification",
        "kwargs": {"hidden_channels": 64, "num_layers": 2, "heads": 8, "dropout": 0.6},
        "lr": 0.005,
        "weight_decay": 5e-4,
        "epochs": 300,
        "patience": 100,
        "seed": 0,
    },
    "sage_citeseer": {
        "architecture": "sage",
        "dataset": "CiteSeer",
        "loader": "planetoid",
        "task": "node-classification",
        "kwargs": {"hidden_channels": 64, "num_layers": 2, "dropout": 0.5},
        "lr": 0.01,
        "weight_decay": 5e-4,
        "epochs": 200,
        "patience": 50,
        "seed": 0,
    },
    "gin_mutag": {
        "architecture": "graph-classifier",
        "dataset": "MUTAG",
        "loader": "tu",
        "task": "graph-classification",
        "kwargs": {"hidden_channels": 32, "num_layers": 3, "gnn": "gin", "pool": "add", "dropout": 0.5},
        "lr": 0.01,
        "weight_decay": 0.0,
        "epochs": 300,
        "patience": 100,
        "seed": 0,
    },
    "gcn_link_cora": {
        "architecture": "gcn",
        "dataset": "Cora",
        "loader": "planetoid",
        "task": "link-prediction",
        "kwargs": {"hidden_channels": 128, "out_channels": 64, "num_layers": 2, "dropout": 0.0},
        "options": {"task": "link-prediction", "split_seed": 0},
        "lr": 0.01,
        "weight_decay": 0.0,
        "epochs": 300,
        "patience": 100,
        "seed": 0,
    },
}


def train_one(name: str, out_dir: Path, data_root: str | None) -> Path:
    import torch

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.core.paths import default_cache_dir
    from gnneval.load.datasets import load_dataset, resolve_data_root
    from gnneval.model.forward import run_model
    from gnneval.plugin import DatasetContext, DatasetRef
    from gnneval.prune.training import train
    from gnneval.store.checkpoints import save_checkpoint

    r = RECIPES[name]
    torch.manual_seed(r["seed"])
    torch.use_deterministic_algorithms(True)
    host = build_plugin_host()
    ref = DatasetRef(name=r["dataset"], loader=r["loader"], options=dict(r.get("options", {})))
    graph, _ = load_dataset(
        host.registry, ref, DatasetContext(resolve_data_root(data_root), default_cache_dir(), r["seed"])
    )
    kwargs = {"in_channels": graph.num_features, "out_channels": graph.num_classes, **r["kwargs"]}
    torch.manual_seed(r["seed"])
    model = host.registry.build_architecture(r["architecture"], **kwargs)
    result = train(
        model,
        graph,
        epochs=r["epochs"],
        lr=r["lr"],
        weight_decay=r["weight_decay"],
        patience=r["patience"],
        seed=r["seed"],
    )
    outputs = run_model(model, graph)
    d = graph.data
    if graph.task == "link-prediction":
        from sklearn.metrics import roc_auc_score

        z = torch.from_numpy(outputs.logits)
        metrics = {}
        for split in ("val", "test"):
            idx, label = getattr(d, f"{split}_edge_label_index"), getattr(d, f"{split}_edge_label")
            metrics[f"{split}_auc"] = float(roc_auc_score(label.numpy(), (z[idx[0]] * z[idx[1]]).sum(1).numpy()))
    else:
        pred = torch.from_numpy(outputs.predictions)
        metrics = {
            f"{s}_accuracy": float((pred[getattr(d, f"{s}_mask")] == d.y[getattr(d, f"{s}_mask")]).float().mean())
            for s in ("train", "val", "test")
        }
    path = out_dir / f"{name}.pt"
    save_checkpoint(
        path,
        model=model,
        architecture=r["architecture"],
        architecture_kwargs=kwargs,
        task=graph.task,
        dataset=ref,
        metrics=metrics,
        training={
            **{k: v for k, v in r.items() if k not in ("kwargs", "options")},
            "recipe": f"zoo/train_zoo.py {name}",
            "epochs_run": result.epochs,
            "best_epoch": result.best_epoch,
            "selection": "best validation score (gnneval.prune.training)",
            "optimizer": "Adam",
            "training_flops": result.flops,
        },
    )
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    print(
        f"{name}: best epoch {result.best_epoch} of {result.epochs}: {shown}; wrote {path} "
        f"({os.path.getsize(path):,} bytes)"
    )
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", choices=[*RECIPES, []], help="recipes to run (default: all)")
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).parent)
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)
    for name in args.names or list(RECIPES):
        train_one(name, args.out_dir, args.data_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
