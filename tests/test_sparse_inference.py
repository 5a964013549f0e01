"""--inference sparse: every forward pass receives a CSR adjacency instead of edge_index and gives the same
logits, embeddings and scores (to float tolerance) for GCN, GraphSAGE and GIN; a model whose outputs differ
(or cannot take it) is refused in one line under ``sparse`` and kept on edge_index under ``auto``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnneval.cli import main
from gnneval.store.hdf5 import read_run

ARGS = ["--pruner", "magnitude,structured", "--sparsity", "0.5", "--no-bench", "--no-progress", "--visualisers",
        "curves", "--metrics", "accuracy,linear-cka"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["gcn", "sage", "gin"])
def test_sparse_gives_the_full_batch_results(tmp_path, capsys, arch):
    from conftest import train_sbm_checkpoint

    ckpt = train_sbm_checkpoint(tmp_path / f"{arch}.pt", arch=arch, epochs=20)
    for mode in ("full", "sparse"):
        assert main(["evaluate", str(ckpt), *ARGS, "--inference", mode, "--out", str(tmp_path / mode)]) == 0
    assert "inference: sparse adjacency (CSR spmm)" in capsys.readouterr().err
    full, sparse = read_run(tmp_path / "full"), read_run(tmp_path / "sparse")
    assert sparse.provenance.resolved["inference"] == "sparse" and full.provenance.resolved["inference"] == "edge_index"
    for a, b in zip(full.variants, sparse.variants):
        assert np.allclose(a.outputs.logits, b.outputs.logits, atol=1e-5), (arch, a.id)
        for layer in a.outputs.embeddings:
            assert np.allclose(a.outputs.embeddings[layer], b.outputs.embeddings[layer], atol=1e-5)
        assert a.metrics["accuracy.test"] == b.metrics["accuracy.test"]
        assert a.flops == b.flops  # message passing counted from the adjacency's entries, as from edge_index


def test_a_model_that_differs_on_a_sparse_adjacency_is_refused(tmp_path, capsys):
    """A layer that reads edge_index itself (here: counts edges) cannot take a sparse adjacency."""
    from dataclasses import replace

    from torch_geometric.nn import GCNConv

    from gnneval.load.inputs import Loaded
    from gnneval.model.inference import choose_inference
    from gnneval.plugin import LoadedCheckpoint
    from gnneval.testing import small_graph

    class ReadsEdges(torch.nn.Module):
        def __init__(self, c_in: int) -> None:
            super().__init__()
            self.conv = GCNConv(c_in, 4)

        def forward(self, x, edge_index):
            return self.conv(x, edge_index) + float(edge_index.shape[1])

    graph = small_graph()
    ckpt = LoadedCheckpoint(model=ReadsEdges(graph.num_features), architecture="x", architecture_kwargs={},
                            task="node-classification", dataset=None)  # fmt: skip
    loaded = Loaded(ckpt, "x", graph, "sbm", "node-classification", "cpu", None)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="--inference sparse: the model does not give the same outputs that way"):
        choose_inference(loaded, "sparse")
    assert choose_inference(loaded, "auto").graph.adjacency == "edge_index"  # small: edge_index anyway
    import gnneval.model.inference as inference

    big = replace(loaded, graph=graph)
    old, inference.AUTO_BYTES = inference.AUTO_BYTES, 0
    try:
        assert choose_inference(big, "auto").graph.adjacency == "layerwise"  # differs sparse, not layer by layer
    finally:
        inference.AUTO_BYTES = old


def test_a_multigraph_keeps_edge_index(tmp_path):
    """Duplicate edges and self-loops are counted differently by a sparse adjacency: auto keeps edge_index and
    sparse refuses, whatever the subgraph check would see."""
    from torch_geometric.nn.models import GCN

    import gnneval.model.inference as inference
    from gnneval.load.inputs import Loaded
    from gnneval.model.inference import choose_inference
    from gnneval.plugin import LoadedCheckpoint
    from gnneval.testing import small_graph

    graph = small_graph()
    ei = graph.data.edge_index
    graph.data.edge_index = torch.cat([ei, ei[:, -5:]], dim=1)  # five edges twice, far from the first nodes
    ckpt = LoadedCheckpoint(model=GCN(graph.num_features, 8, num_layers=2, out_channels=4), architecture="gcn",
                            architecture_kwargs={}, task="node-classification", dataset=None)  # fmt: skip
    loaded = Loaded(ckpt, "x", graph, "sbm", "node-classification", "cpu", None)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="duplicate edges or self-loops"):
        choose_inference(loaded, "sparse")
    old, inference.AUTO_BYTES = inference.AUTO_BYTES, 0
    try:
        assert choose_inference(loaded, "auto").graph.adjacency == "layerwise"  # exact on a multigraph
    finally:
        inference.AUTO_BYTES = old


def test_the_adjacency_follows_the_edges_of_a_changed_clone():
    """A sparsifier clones the graph and changes its edges: its adjacency is built from its own edges."""
    from dataclasses import replace

    from gnneval.model.forward import sparse_adjacency
    from gnneval.testing import small_graph

    graph = replace(small_graph(), adjacency="sparse")
    assert sparse_adjacency(graph)._nnz() == graph.data.edge_index.shape[1]
    clone = graph.data.clone()
    assert sparse_adjacency(replace(graph, data=clone))._nnz() == graph.data.edge_index.shape[1]
    clone.edge_index = clone.edge_index[:, :10]
    assert sparse_adjacency(replace(graph, data=clone))._nnz() == 10


@pytest.mark.parametrize("bias", [True, False])
def test_inference_on_the_sparse_adjacency_holds_one_buffer_fewer_and_gives_the_same_logits(monkeypatch, bias):
    """Inference through a GCN layer on the sparse adjacency lets the linear output go once propagated and adds
    the bias in place (:func:`gnneval.model.forward._gcn_lean`): bit-for-bit what the layer's own forward gives
    (taken with gradients on), and the lean path is the one inference took."""
    from dataclasses import replace

    from torch_geometric.nn.models import GCN

    import gnneval.model.forward as forward
    from gnneval.testing import small_graph

    graph = replace(small_graph(), adjacency="sparse")
    torch.manual_seed(0)
    model = GCN(graph.num_features, 16, 3, graph.num_classes, bias=bias).eval()
    own = forward.forward_pass(model, graph).detach()  # gradients on: GCNConv's own forward
    calls = []
    lean = forward._gcn_lean
    monkeypatch.setattr(forward, "_gcn_lean", lambda *a: calls.append(1) or lean(*a))
    with torch.inference_mode():
        got = forward.forward_pass(model, graph)
    assert len(calls) == 3 and torch.equal(got, own)


def test_the_kept_adjacency_serves_a_pass_with_gradients_after_an_inference_pass():
    """The CSR adjacency and its GCN normalisation are kept beside the graph by the first pass that needs them;
    one made in inference mode (the measuring pass) still serves a later pass with gradients (a pruner's)."""
    from dataclasses import replace

    from torch_geometric.nn.models import GCN

    from gnneval.model.forward import forward_pass
    from gnneval.testing import small_graph

    graph = replace(small_graph(), adjacency="sparse")
    torch.manual_seed(0)
    model = GCN(graph.num_features, 16, 2, graph.num_classes).eval()
    with torch.inference_mode():
        seen = forward_pass(model, graph)
    out = forward_pass(model, graph)
    out.sum().backward()
    assert torch.equal(out.detach(), seen) and model.convs[0].lin.weight.grad is not None
