"""Shared fixtures: an isolated cache, a small trained checkpoint, the shared datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Datasets are processed into a per-session cache, never into the user's."""
    cache = tmp_path_factory.mktemp("gnneval-cache")
    old = os.environ.get("GNNEVAL_CACHE")
    os.environ["GNNEVAL_CACHE"] = str(cache)
    os.environ.pop("GNNEVAL_DATA", None)
    os.environ.pop("GNNEVAL_DISABLE_PLUGINS", None)
    yield cache
    if old is None:
        os.environ.pop("GNNEVAL_CACHE", None)
    else:
        os.environ["GNNEVAL_CACHE"] = old


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not (SHARED / "Planetoid" / "Cora" / "raw" / "ind.cora.x").is_file():
        pytest.skip(f"the shared datasets are not at {SHARED}")
    return SHARED


def train_sbm_checkpoint(path: Path, *, arch: str = "gcn", hidden: int = 32, epochs: int = 60, **extra) -> Path:
    """Train a small model on the seeded SBM graph and save it as a native checkpoint."""
    import torch
    import torch.nn.functional as F

    from gnneval.builtin.sbm import make_sbm
    from gnneval.checkpoint import save_checkpoint
    from gnneval.manager import build_plugin_host
    from gnneval.plugin import DatasetRef

    torch.manual_seed(0)
    data = make_sbm(seed=0)
    kwargs = {"in_channels": 32, "hidden_channels": hidden, "out_channels": 4, "num_layers": 2, **extra}
    model = build_plugin_host().registry.build_architecture(arch, **kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask]).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(data.x, data.edge_index).argmax(1)
    acc = float((pred[data.test_mask] == data.y[data.test_mask]).float().mean())
    return save_checkpoint(path, model=model, architecture=arch, architecture_kwargs=kwargs,
                           task="node-classification", dataset=DatasetRef("sbm", loader="sbm", split="seeded"),
                           metrics={"test_accuracy": acc}, training={"seed": 0, "epochs": epochs})


@pytest.fixture(scope="session")
def sbm_checkpoint(tmp_path_factory) -> Path:
    return train_sbm_checkpoint(tmp_path_factory.mktemp("ckpt") / "gcn_sbm.pt")
