"""Recipe for zoo/gcn_cora.pt: a 2-layer GCN on Planetoid Cora (public split).

Run from the repository root (set GNNEVAL_DATA to a folder holding Cora/raw, or
have internet):

    python zoo/train_gcn_cora.py            # writes zoo/gcn_cora.pt

Seeded and deterministic on the CPU: the same library versions give the same
weights.  Hyper-parameters follow Kipf & Welling (2017), with hidden width 64.
The model kept is the one with the lowest validation loss (early stopping).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

RECIPE = {
    "architecture": "gcn",
    "hidden_channels": 64,
    "num_layers": 2,
    "dropout": 0.5,
    "lr": 0.01,
    "weight_decay": 5e-4,
    "epochs": 200,
    "seed": 0,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("gcn_cora.pt"))
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.core.paths import default_cache_dir
    from gnneval.load.datasets import load_dataset, resolve_data_root
    from gnneval.plugin import DatasetContext, DatasetRef
    from gnneval.store.checkpoints import save_checkpoint

    r = RECIPE
    torch.manual_seed(r["seed"])
    torch.use_deterministic_algorithms(True)
    host = build_plugin_host()
    ref = DatasetRef(name="Cora", loader="planetoid", split="public")
    graph, _ = load_dataset(
        host.registry, ref, DatasetContext(resolve_data_root(args.data_root), default_cache_dir(), r["seed"])
    )
    d = graph.data
    kwargs = {
        "in_channels": graph.num_features,
        "hidden_channels": r["hidden_channels"],
        "out_channels": graph.num_classes,
        "num_layers": r["num_layers"],
        "dropout": r["dropout"],
    }
    model = host.registry.build_architecture(r["architecture"], **kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=r["lr"], weight_decay=r["weight_decay"])

    def evaluate(m):
        m.eval()
        with torch.no_grad():
            out = m(d.x, d.edge_index)
        pred = out.argmax(1)
        acc = {
            s: float((pred[getattr(d, f"{s}_mask")] == d.y[getattr(d, f"{s}_mask")]).float().mean())
            for s in ("train", "val", "test")
        }
        return acc, float(F.cross_entropy(out[d.val_mask], d.y[d.val_mask]))

    best, best_loss, best_epoch = None, float("inf"), -1
    for epoch in range(1, r["epochs"] + 1):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(d.x, d.edge_index)[d.train_mask], d.y[d.train_mask])
        loss.backward()
        opt.step()
        _acc, val_loss = evaluate(model)
        if val_loss < best_loss:
            best, best_loss, best_epoch = copy.deepcopy(model.state_dict()), val_loss, epoch
    model.load_state_dict(best)
    acc, val_loss = evaluate(model)
    print(f"best epoch {best_epoch}: train {acc['train']:.4f} val {acc['val']:.4f} test {acc['test']:.4f}")
    save_checkpoint(
        args.out,
        model=model,
        architecture=r["architecture"],
        architecture_kwargs=kwargs,
        task="node-classification",
        dataset=ref,
        metrics={f"{k}_accuracy": v for k, v in acc.items()},
        training={
            **r,
            "recipe": "zoo/train_gcn_cora.py",
            "best_epoch": best_epoch,
            "selection": "lowest validation loss",
            "val_loss": val_loss,
            "optimizer": "Adam",
            "loss": "cross-entropy",
        },
    )
    print(f"wrote {args.out} ({os.path.getsize(args.out):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
