"""--store-embeddings all|sample|none|auto: run.h5 keeps every node's embeddings, a seeded sample of them (the
same nodes for every variant and layer, listed in /graph/embedding_nodes), or none; the metrics are the same
whatever is stored (they run on every node's outputs during the run), and the pictures and the explorer draw
from the stored sample."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from gnneval.cli import main
from gnneval.store.hdf5 import read_run
from gnneval.store.stored_rows import drawn_items, rows_at, stored_rows

ARGS = ["--pruner", "magnitude,random", "--sparsity", "0.5", "--no-bench", "--no-progress", "--metrics",
        "accuracy,linear-cka,knn-overlap"]  # fmt: skip


@pytest.fixture(scope="module")
def runs(sbm_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("stored")
    out = {}
    for mode, extra in (("all", ["--visualisers", "umap"]),
                        ("sample", ["--store-sample", "150", "--visualisers", "umap,explorer"]),
                        ("none", ["--visualisers", "curves,umap"])):  # fmt: skip
        code = main(["evaluate", str(sbm_checkpoint), *ARGS, *extra, "--store-embeddings", mode,
                     "--out", str(root / mode)])  # fmt: skip
        assert code == 0
        out[mode] = root / mode
    return out


def test_the_sample_is_stored_and_said(runs):
    full, sample = read_run(runs["all"]), read_run(runs["sample"])
    nodes = sample.graph.embedding_nodes
    assert nodes is not None and nodes.size == 150 and np.all(np.diff(nodes) > 0)
    assert full.graph.embedding_nodes is None
    assert np.array_equal(nodes, stored_rows("sample", full.graph.num_nodes, "node-classification", 150, 0))
    with h5py.File(runs["sample"] / "run.h5") as f:
        assert f["graph"].attrs["stored_embeddings"] == f"sample of 150 of {full.graph.num_nodes:,} nodes (seeded)"
        assert f["variants/dense/logits"].shape[0] == 150
        assert f["variants/dense/predictions"].shape[0] == full.graph.num_nodes  # predictions: every node
    assert "sample of 150" in sample.provenance.resolved["stored_embeddings"]
    for a, b in zip(full.variants, sample.variants):
        assert a.metrics == b.metrics and a.layer_metrics == b.layer_metrics  # computed on every node either way
        assert np.array_equal(a.outputs.predictions, b.outputs.predictions)
        assert np.array_equal(b.outputs.logits, a.outputs.logits[nodes])
        for layer, emb in b.outputs.embeddings.items():
            assert np.array_equal(emb, a.outputs.embeddings[layer][nodes]), (a.id, layer)
    assert sample.shown_layer() == full.shown_layer()


def test_none_stores_no_embeddings_and_the_maps_say_so(runs):
    run = read_run(runs["none"])
    assert all(not v.outputs.embeddings for v in run.variants)
    assert "umap" not in run.files and "curves" in str(run.files)
    assert any("--store-embeddings none" in p.message for p in run.problems if "umap" in p.where), run.problems


def test_the_pictures_draw_the_stored_nodes(runs):
    run = read_run(runs["sample"])
    assert (runs["sample"] / "explorer.html").is_file() and "umap" in str(run.files)
    items = drawn_items(run.graph, 100, 0)
    assert set(items) <= set(run.graph.embedding_nodes) and items.size == 100
    at = rows_at(run.dense.outputs, items)
    assert np.array_equal(run.graph.embedding_nodes[at], items)
    with pytest.raises(ValueError, match="not stored"):
        rows_at(run.dense.outputs, np.array([int(np.setdiff1d(np.arange(run.graph.num_nodes), items)[0])]))


def test_auto_stores_all_below_the_size_and_samples_above():
    assert stored_rows("auto", 10_000, "node-classification", 20_000, 0) is None
    rows = stored_rows("auto", 2_400_000, "node-classification", 20_000, 0)
    assert rows is not None and rows.size == 20_000
    assert stored_rows("auto", 2_400_000, "graph-classification", 20_000, 0) is None


def test_adding_to_a_sampled_run_keeps_its_sample_and_full_metrics(runs, sbm_checkpoint):
    before = read_run(runs["sample"])
    assert main(["evaluate", str(sbm_checkpoint), *ARGS, "--sparsity", "0.7", "--store-sample", "150",
                 "--store-embeddings", "sample", "--visualisers", "umap", "--out", str(runs["sample"])]) == 0  # fmt: skip
    after = read_run(runs["sample"])
    assert np.array_equal(after.graph.embedding_nodes, before.graph.embedding_nodes)
    added = after.variant("magnitude@0.70")
    assert added.outputs.embeddings and next(iter(added.outputs.embeddings.values())).shape[0] == 150
    assert main(["evaluate", str(sbm_checkpoint), *ARGS, "--sparsity", "0.7", "--visualisers", "curves",
                 "--out", str(runs["all"])]) == 0  # fmt: skip
    whole = read_run(runs["all"]).variant("magnitude@0.70")
    assert added.layer_metrics == whole.layer_metrics  # against every node of the dense model, not its sample
