"""Dataset roots: offline raw files, the read-only rule, and the one-line error when missing."""

from __future__ import annotations

import socket

import pytest

from gnneval._plugins.manager import build_plugin_host
from gnneval.core.paths import default_cache_dir
from gnneval.load.datasets import load_dataset, resolve_data_root
from gnneval.plugin import DatasetContext, DatasetRef, UsageError


@pytest.fixture(scope="module")
def registry():
    return build_plugin_host().registry


def test_planetoid_from_raw_files_without_download(registry, shared_datasets, tmp_path):
    snapshot = sorted(str(p) for p in shared_datasets.rglob("*"))
    for root in (shared_datasets, shared_datasets / "Planetoid"):  # a folder of families, or the family
        ctx = DatasetContext(root=root, cache_dir=tmp_path / "cache", seed=0)
        graph, loader = load_dataset(registry, DatasetRef("citeseer"), ctx)
        assert loader == "planetoid" and graph.name == "CiteSeer"
        assert graph.data.num_nodes == 3327 and graph.num_classes == 6 and graph.num_features == 3703
        assert int(graph.data.train_mask.sum()) == 120 and int(graph.data.test_mask.sum()) == 1000
        assert "copied to" in graph.source
    assert sorted(str(p) for p in shared_datasets.rglob("*")) == snapshot  # nothing written there


def _offline() -> bool:
    try:
        socket.create_connection(("github.com", 443), timeout=3).close()
        return False
    except OSError:
        return True


def test_missing_dataset_without_internet_says_where_to_put_files(registry, tmp_path):
    if not _offline():
        pytest.skip("this machine has internet: PubMed would download")
    ctx = DatasetContext(root=tmp_path, cache_dir=tmp_path / "cache", seed=0)
    with pytest.raises(UsageError) as err:
        load_dataset(registry, DatasetRef("PubMed"), ctx)
    msg = str(err.value)
    assert "\n" not in msg and "ind.pubmed.x" in msg and str(tmp_path / "PubMed" / "raw") in msg


def test_data_root_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("GNNEVAL_DATA", raising=False)
    assert resolve_data_root(None) is None
    monkeypatch.setenv("GNNEVAL_DATA", str(tmp_path))
    assert resolve_data_root(None) == tmp_path
    with pytest.raises(UsageError, match="is not a folder"):
        resolve_data_root(str(tmp_path / "missing"))
    monkeypatch.setenv("GNNEVAL_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"


def test_sbm_is_seeded(registry, tmp_path):
    ctx = DatasetContext(root=None, cache_dir=tmp_path, seed=5)
    a, _ = load_dataset(registry, DatasetRef("sbm", options={"nodes": 300}), ctx)
    b, _ = load_dataset(registry, DatasetRef("sbm", options={"nodes": 300}), ctx)
    assert a.data.num_nodes == 300
    assert (a.data.edge_index == b.data.edge_index).all() and (a.data.x == b.data.x).all()


def test_link_split_depends_on_its_seed_alone():
    """PyG's negative sampling uses Python's random too: the split must not depend on its state."""
    import random

    import torch

    from gnneval.builtin.datasets.synthetic import make_sbm
    from gnneval.load.datasets import link_split

    data = make_sbm(nodes=200, seed=0)
    random.seed(1)
    torch.manual_seed(1)
    a = link_split(data, seed=3)
    random.seed(2)
    torch.manual_seed(2)
    b = link_split(data, seed=3)
    assert torch.equal(a.test_edge_label_index, b.test_edge_label_index)
    assert torch.equal(a.val_edge_label_index, b.val_edge_label_index)
    assert not torch.equal(a.test_edge_label_index, link_split(data, seed=4).test_edge_label_index)
