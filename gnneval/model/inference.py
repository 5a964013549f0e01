"""``--inference full|sparse|auto``: how every forward pass of a run receives the graph.

``full`` passes ``edge_index``: torch_geometric then materialises one message per edge and channel (E x C floats per
layer — 31 GiB for a 128-wide layer at ogbn-products' 62M edges).  ``sparse`` passes a CSR adjacency (``adj_t``),
which GCN, GraphSAGE, GIN and GraphConv layers multiply by the features (spmm): memory O(E + N x C).  GAT's
attention is per edge and gets no such path.  ``auto`` (the default) chooses ``sparse`` when the per-edge
messages of the widest layer would need more than :data:`AUTO_BYTES`, and the model gives the same outputs on
both (checked on a subgraph first); otherwise ``full``.  The choice and its reason are printed and stored.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gnneval.core.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.load.inputs import Loaded

MODES = ("full", "sparse", "auto")
AUTO_BYTES = 4 << 30
"""``auto`` takes the sparse adjacency when one layer's per-edge messages would need more than this (4 GiB)."""
CHECK_NODES = 512
"""The subgraph (the first nodes and the edges among them) both ways of passing the graph are compared on."""


def choose_inference(loaded: Loaded, mode: str, console: Any = None) -> Loaded:
    """``loaded`` with ``graph.adjacency`` set as ``mode`` decides (see the module)."""
    if mode not in MODES:
        raise UsageError(f"--inference {mode}: use one of {', '.join(MODES)}")
    graph = loaded.graph
    need = _message_bytes(loaded)
    if mode == "full" or (mode == "auto" and need <= AUTO_BYTES):
        return loaded
    same = _same_outputs(loaded)
    if same is not True:
        if mode == "sparse":
            raise UsageError(f"--inference sparse: the model does not give the same outputs on a sparse adjacency "
                             f"({same}); use --inference full")  # fmt: skip
        _say(console, f"inference: full (a sparse adjacency would save {need / 2**30:.1f} GiB of per-edge messages, "
                      f"but {same})")  # fmt: skip
        return loaded
    _say(console, f"inference: sparse adjacency (CSR spmm): no per-edge messages ({need / 2**30:.1f} GiB per layer "
                  "with edge_index); same outputs as edge_index on a subgraph")  # fmt: skip
    return replace(loaded, graph=replace(graph, adjacency="sparse"))


def _say(console: Any, line: str) -> None:
    if console is not None:
        console.print(line, soft_wrap=True, markup=False)


def _message_bytes(loaded: Loaded) -> int:
    """One layer's per-edge messages with edge_index: edges x the widest layer's channels x 4 bytes."""
    from gnneval.model.forward import message_passing_layers

    widths = [int(getattr(m, "out_channels", 0) or 0) * int(getattr(m, "heads", 1) or 1)
              for _n, m in message_passing_layers(loaded.ckpt.model)]  # fmt: skip
    widths.append(int(loaded.graph.num_features))
    return int(loaded.graph.data.edge_index.shape[1]) * max(widths) * 4


def _same_outputs(loaded: Loaded) -> bool | str:
    """Whether the graph is simple (no duplicate edges, no self-loops) and the model's outputs on the first
    :data:`CHECK_NODES` nodes' subgraph agree both ways (else the reason)."""
    import torch
    from torch_geometric.utils import coalesce, contains_self_loops, subgraph

    from gnneval.model.forward import model_inputs

    graph = loaded.graph
    if graph.task == "graph-classification":
        return "graph classification keeps edge_index (its graphs are small)"
    ei_all = graph.data.edge_index
    if contains_self_loops(ei_all) or int(coalesce(ei_all).shape[1]) != int(ei_all.shape[1]):
        return "the graph has duplicate edges or self-loops, which a sparse adjacency counts differently"
    n = min(CHECK_NODES, int(graph.data.num_nodes))
    keep = torch.arange(n)
    ei, _ = subgraph(keep, graph.data.edge_index, num_nodes=int(graph.data.num_nodes), relabel_nodes=True)
    small = graph.data.clone()
    small.x, small.edge_index, small.y = graph.data.x[:n], ei, graph.data.y[:n]
    small.num_nodes = n
    sub = replace(graph, data=small)
    model = loaded.ckpt.model.eval()
    try:
        with torch.no_grad():
            a = model(*model_inputs(sub, "cpu", edges="edge_index"))
            b = model(*model_inputs(sub, "cpu", edges="sparse"))
    except Exception as exc:  # noqa: BLE001 - a layer without a sparse path
        return f"its layers do not take a sparse adjacency ({type(exc).__name__})"
    if not torch.allclose(a, b, atol=1e-4, rtol=1e-4):
        return (
            f"its outputs differ by {float((a - b).abs().max()):.2g} (duplicate edges or self-loops, which a "
            "sparse adjacency counts differently, or a layer that reads edges itself)"
        )
    return True
