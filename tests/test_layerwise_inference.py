"""--inference layerwise: each message-passing layer runs over batches of target nodes with all their neighbours
(:mod:`gnneval.model.layerwise`) and gives the full-batch outputs to float tolerance — for GCN (with its
whole-graph normalisation), GraphSAGE, GAT (with edge attributes), GIN, GraphConv, TransformerConv and a user's
class whose layers are found; a layer that reads more than one hop is found by the subgraph check, and auto
takes layer-wise where the sparse adjacency cannot serve (GAT, a multigraph)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch_geometric.nn import GATConv, GATv2Conv, GCNConv, GINConv, GraphConv, SAGEConv, SGConv, TransformerConv

from gnneval.cli import main
from gnneval.model.forward import message_passing_layers
from gnneval.model.layerwise import layerwise
from gnneval.store.hdf5 import read_run


class Stack(torch.nn.Module):
    """A user's class: its own forward over a list of layers, ReLU between them."""

    def __init__(self, convs: list[torch.nn.Module]) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList(convs)

    def forward(self, x, edge_index, *extra):
        for i, conv in enumerate(self.convs):
            x = conv(x, edge_index, *extra)
            x = x.relu() if i < len(self.convs) - 1 else x
        return x


def _graph(n: int = 600, e: int = 5000, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = torch.cat([ei, ei[:, :50], torch.arange(20).repeat(2, 1)], dim=1)  # duplicate edges and self-loops too
    return torch.randn(n, 16, generator=g), ei


LAYERS = {
    "gcn": lambda: [GCNConv(16, 32), GCNConv(32, 8)],
    "gcn-improved": lambda: [GCNConv(16, 32, improved=True, cached=True), GCNConv(32, 8)],
    "sage": lambda: [SAGEConv(16, 32), SAGEConv(32, 8, aggr="max")],
    "gat": lambda: [GATConv(16, 8, heads=4), GATConv(32, 8, heads=1)],
    "gatv2": lambda: [GATv2Conv(16, 8, heads=2), GATv2Conv(16, 8)],
    "gin": lambda: [
        GINConv(torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU())),
        GINConv(torch.nn.Linear(32, 8), train_eps=True),
    ],  # fmt: skip
    "graphconv": lambda: [GraphConv(16, 32), GraphConv(32, 8, aggr="mean")],
    "transformer": lambda: [TransformerConv(16, 8, heads=2), TransformerConv(16, 8)],
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_layerwise_equals_full_batch(kind):
    torch.manual_seed(0)
    model = Stack(LAYERS[kind]()).eval()
    x, ei = _graph()
    with torch.no_grad():
        want = model(x, ei)
        with layerwise(message_passing_layers(model), batch_bytes=4 * 32 * 300):  # about 300 edges a batch
            got = model(x, ei)
    assert torch.allclose(want, got, atol=1e-5), float((want - got).abs().max())
    assert all("forward" not in conv.__dict__ for conv in model.convs)  # restored after the pass


def test_edge_weights_and_attributes_are_cut_with_the_edges():
    torch.manual_seed(0)
    x, ei = _graph()
    weight, attr = torch.rand(ei.shape[1]), torch.randn(ei.shape[1], 3)
    for model, extra in ((Stack([GCNConv(16, 32), GCNConv(32, 8)]), weight),
                         (Stack([GATConv(16, 8, heads=2, edge_dim=3), GATConv(16, 8, edge_dim=3)]), attr)):  # fmt: skip
        model.eval()
        with torch.no_grad():
            want = model(x, ei, extra)
            with layerwise(message_passing_layers(model), batch_bytes=4 * 32 * 300):
                got = model(x, ei, extra)
        assert torch.allclose(want, got, atol=1e-5)


def test_the_batches_bound_the_messages():
    """Each call of a layer sees at most one batch's edges (plus the targets' self-loops GAT adds)."""
    torch.manual_seed(0)
    x, ei = _graph(n=2000, e=40000)
    model = Stack([GATConv(16, 8, heads=4), GATConv(32, 8)]).eval()
    seen: list[int] = []
    for conv in model.convs:
        conv.register_propagate_forward_pre_hook(lambda _m, inputs: seen.append(int(inputs[0].shape[1])))
    per_batch = (1 << 18) // (4 * 32)
    with torch.no_grad(), layerwise(message_passing_layers(model), batch_bytes=1 << 18):
        model(x, ei)
    assert len(seen) >= 2 * 40000 // per_batch and max(seen) <= per_batch + 2000  # self-loops: local nodes


def _loaded(model, x, ei):
    from gnneval.load.inputs import Loaded
    from gnneval.plugin import LoadedCheckpoint
    from gnneval.testing import small_graph

    graph = small_graph()
    graph.data.x, graph.data.edge_index = x, ei
    graph.data.y = torch.zeros(x.shape[0], dtype=torch.long)
    graph.data.num_nodes = x.shape[0]
    graph = replace(graph, num_features=x.shape[1])
    ckpt = LoadedCheckpoint(model=model, architecture="x", architecture_kwargs={}, task="node-classification",
                            dataset=None)  # fmt: skip
    return Loaded(ckpt, "x", graph, "sbm", "node-classification", "cpu", None)  # type: ignore[arg-type]


def test_auto_takes_layerwise_for_gat_and_refuses_a_multi_hop_layer(monkeypatch):
    import gnneval.model.inference as inference
    from gnneval.core.errors import UsageError

    monkeypatch.setattr(inference, "AUTO_BYTES", 0)
    x, ei = _graph()
    gat = _loaded(Stack([GATConv(16, 8, heads=2), GATConv(16, 4)]), x, ei)
    assert inference.choose_inference(gat, "auto").graph.adjacency == "layerwise"
    gcn = _loaded(Stack([GCNConv(16, 8), GCNConv(8, 4)]), x, ei)  # a multigraph: sparse would count differently
    assert inference.choose_inference(gcn, "auto").graph.adjacency == "layerwise"
    sgc = _loaded(Stack([SGConv(16, 4, K=2)]), x, ei)  # two hops inside one layer
    with pytest.raises(UsageError, match="--inference layerwise: the model does not give the same outputs"):
        inference.choose_inference(sgc, "layerwise")
    assert inference.choose_inference(sgc, "auto").graph.adjacency == "edge_index"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["gat", "sage", "gcn"])
def test_layerwise_gives_the_full_batch_run(tmp_path, capsys, arch):
    from conftest import train_sbm_checkpoint

    ckpt = train_sbm_checkpoint(tmp_path / f"{arch}.pt", arch=arch, epochs=20)
    args = ["--pruner", "magnitude,structured", "--sparsity", "0.5", "--no-progress", "--visualisers", "curves",
            "--metrics", "accuracy,linear-cka", "--backends", "torch,onnxruntime", "--bench-budget", "0.05"]  # fmt: skip
    for mode in ("full", "layerwise"):
        assert main(["evaluate", str(ckpt), *args, "--inference", mode, "--out", str(tmp_path / mode)]) == 0
    assert "inference: layer-wise over node batches" in capsys.readouterr().err
    full, lw = read_run(tmp_path / "full"), read_run(tmp_path / "layerwise")
    assert lw.provenance.resolved["inference"] == "layerwise"
    for a, b in zip(full.variants, lw.variants):
        assert np.allclose(a.outputs.logits, b.outputs.logits, atol=1e-5), (arch, a.id)
        for layer in a.outputs.embeddings:
            assert np.allclose(a.outputs.embeddings[layer], b.outputs.embeddings[layer], atol=1e-5)
        assert a.metrics["accuracy.test"] == b.metrics["accuracy.test"]
        timed = {r.backend: r.status for r in b.bench}
        assert timed.get("torch") == "ok" and timed.get("onnxruntime") == "skipped", timed
