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
    """Train a small model on the default seeded SBM graph and save it as a native checkpoint."""
    from gnneval.builtin.datasets.synthetic import make_sbm
    from gnneval.model.forward import run_model
    from gnneval.plugin import DatasetRef, GraphData
    from gnneval.store.checkpoints import save_checkpoint
    from gnneval.testing import small_model

    graph = GraphData("sbm", "node-classification", make_sbm(seed=0), 32, 4, "generated")
    model = small_model(graph, architecture=arch, hidden=hidden, epochs=epochs, **extra)
    pred = run_model(model, graph).predictions
    test = graph.data.test_mask.numpy()
    acc = float((pred[test] == graph.data.y.numpy()[test]).mean())
    kwargs = {"in_channels": 32, "hidden_channels": hidden, "out_channels": 4, "num_layers": 2, **extra}
    return save_checkpoint(
        path,
        model=model,
        architecture=arch,
        architecture_kwargs=kwargs,
        task="node-classification",
        dataset=DatasetRef("sbm", loader="sbm", split="seeded"),
        metrics={"test_accuracy": acc},
        training={"seed": 0, "epochs": epochs},
    )


@pytest.fixture(scope="session")
def sbm_checkpoint(tmp_path_factory) -> Path:
    return train_sbm_checkpoint(tmp_path_factory.mktemp("ckpt") / "gcn_sbm.pt")


def train_sbm_link_checkpoint(path: Path, epochs: int = 80) -> Path:
    """A 2-layer GCN encoder trained for link prediction (dot-product decoder) on the SBM's training edges."""
    from gnneval.builtin.datasets.synthetic import make_sbm
    from gnneval.load.datasets import link_split
    from gnneval.plugin import DatasetRef, GraphData
    from gnneval.store.checkpoints import save_checkpoint
    from gnneval.testing import small_link_model

    graph = GraphData("sbm", "link-prediction", link_split(make_sbm(seed=0), seed=0), 32, 4, "generated")
    model = small_link_model(graph, epochs=epochs)
    kwargs = {"in_channels": 32, "hidden_channels": 32, "out_channels": 16, "num_layers": 2}
    return save_checkpoint(
        path,
        model=model,
        architecture="gcn",
        architecture_kwargs=kwargs,
        task="link-prediction",
        dataset=DatasetRef("sbm", loader="sbm", options={"task": "link-prediction"}),
        metrics={},
        training={"seed": 0, "epochs": epochs, "decoder": "dot product"},
    )
