"""Running a model on a graph and capturing every message-passing layer's output."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from gnneval.core.records import VariantOutputs

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gnneval.core.contract import GraphData


def message_passing_layers(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """Top-level ``MessagePassing`` modules (not those nested inside another), in definition order."""
    from torch_geometric.nn import MessagePassing

    found: list[tuple[str, torch.nn.Module]] = []
    for name, mod in model.named_modules():
        if isinstance(mod, MessagePassing) and not any(name.startswith(f + ".") for f, _ in found):
            found.append((name or "model", mod))
    return found


def model_inputs(graph: GraphData, device: str = "cpu", edges: str | None = None) -> tuple:
    """What a model of ``graph``'s task is called with: ``(x, edge_index)``, plus ``batch`` for graph
    classification; the edges as ``graph.adjacency`` says (``edges`` overrides it: ``"edge_index"`` for an ONNX
    export or a pruner that masks edges), a CSR ``adj_t`` for ``"sparse"``."""
    d = graph.data
    adjacency = edges or getattr(graph, "adjacency", "edge_index")
    e = sparse_adjacency(graph).to(device) if adjacency == "sparse" else d.edge_index.to(device)
    if graph.task == "graph-classification":
        return d.x.to(device), e, d.batch.to(device)
    return d.x.to(device), e


def forward_pass(model: torch.nn.Module, graph: GraphData, device: str = "cpu", edges: str | None = None) -> Any:
    """``model`` called on ``graph`` (:func:`model_inputs`) as ``graph.adjacency`` says (:func:`inference_form`).
    Every inference pass of the pipeline goes through here; gradients and modes are the caller's.  ``edges``:
    as for :func:`model_inputs` (``"edge_index"``: one whole-graph pass)."""
    inputs = model_inputs(graph, device, edges)
    if edges == "edge_index":
        return model(*inputs)
    with inference_form(model, graph):
        return model(*inputs)


@contextmanager
def inference_form(model: torch.nn.Module, graph: GraphData) -> Iterator[None]:
    """Calls of ``model`` in the block run as ``graph.adjacency`` says: with ``"layerwise"`` its message-passing
    layers run over batches of nodes (:mod:`gnneval.model.layerwise`); otherwise as they are."""
    form = getattr(graph, "adjacency", "edge_index")
    if form == "sparse":
        with _normalised_once(model, graph):
            yield
        return
    if form != "layerwise":
        yield
        return
    from gnneval.model.layerwise import layerwise

    with layerwise(message_passing_layers(model)):
        yield


@contextmanager
def _normalised_once(model: torch.nn.Module, graph: GraphData) -> Iterator[None]:
    """With a sparse adjacency, each GCN layer normalises it (self-loops, D^-1/2 A D^-1/2) on every call: at
    ogbn-products' size several GiB of copies and seconds per layer.  In the block, a GCN layer handed the
    graph's adjacency gets it normalised once per graph and layer configuration instead (same values), and
    multiplies it by the CPU CSR reduce kernel (:func:`_csr_sum`); in inference, through :func:`_gcn_lean`."""
    import torch
    from torch_geometric.nn import GCNConv

    from gnneval.model.layerwise import replaced_forwards

    convs = [m for _n, m in message_passing_layers(model) if isinstance(m, GCNConv) and m.normalize]
    adj = sparse_adjacency(graph) if convs else None

    def make(conv: Any, original: Any) -> Any:
        def forward(x: Any, edge_index: Any, edge_weight: Any = None) -> Any:
            if edge_index is not adj or edge_weight is not None:
                return original(x, edge_index, edge_weight)
            normalised = _gcn_normalised(graph, conv, x.dtype)
            fused = normalised.device.type == "cpu" and "message_and_aggregate" not in conv.__dict__
            conv.normalize = False
            if fused:  # the CPU reduce kernel: no COO copy of the adjacency per call, 1.6x faster at 10^7 edges
                conv.message_and_aggregate = _csr_sum
            try:
                if fused and not torch.is_grad_enabled() and type(conv).forward is GCNConv.forward:
                    return _gcn_lean(conv, x, normalised)
                return original(x, normalised)
            finally:
                conv.normalize = True
                if fused:
                    del conv.message_and_aggregate

        return forward

    with replaced_forwards(convs, make):
        yield


def _gcn_lean(conv: Any, x: torch.Tensor, adj_t: torch.Tensor) -> torch.Tensor:
    """``GCNConv.forward`` on an adjacency normalised already, with one ``[N, C]`` buffer fewer at its peak: the
    linear output is let go once propagated and the bias is added in place (the same operations and values; at
    ogbn-products' size 1.2 GiB less per layer).  Inference only: autograd keeps what it needs otherwise."""
    h = conv.lin(x)
    out = conv.propagate(adj_t, x=h, edge_weight=None)
    del h
    return out.add_(conv.bias) if conv.bias is not None else out


def _csr_sum(adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``adj_t @ x`` by torch's CPU CSR reduce kernel (torch_geometric's spmm takes a path that copies the
    adjacency to COO on every call for a sum)."""
    import torch

    return torch.sparse.mm(adj_t, x, "sum")


def _gcn_normalised(graph: GraphData, conv: Any, dtype: Any) -> torch.Tensor:
    """The graph's CSR adjacency as ``conv`` (a GCN layer) normalises it, made once per edge tensor and
    normalisation (kept beside the adjacency)."""
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    edge_index = graph.data.edge_index
    key = (conv.improved, conv.add_self_loops, conv.flow, dtype)
    kept = graph.data.__dict__.setdefault("_gnneval_gcn_adj_t", {})
    hit = kept.get(key)
    if hit is None or hit[0] is not edge_index:
        with _kept_for_any_mode():
            adj, _ = gcn_norm(sparse_adjacency(graph), None, int(graph.data.num_nodes), *key)
        hit = kept[key] = (edge_index, adj)
    return hit[1]


def head_subgraph(graph: GraphData, nodes: int) -> GraphData:
    """The first ``nodes`` nodes and the edges among them (graph classification: the whole graphs they start),
    passed as ``edge_index``: where a check needs the model's behaviour, not the whole graph's outputs."""
    import copy
    from dataclasses import replace

    import torch
    from torch_geometric.utils import subgraph

    d = graph.data
    n = min(nodes, int(d.num_nodes))
    if graph.task == "graph-classification":  # keep whole graphs, so the readout sees what it was trained on
        n = int((d.batch <= d.batch[n - 1]).sum()) if n else 0
    ei, _ = subgraph(torch.arange(n), d.edge_index, num_nodes=int(d.num_nodes), relabel_nodes=True)
    small = copy.copy(d)  # shares every tensor (a clone copied the whole graph: ~2 GiB at ogbn-products' size)
    small.x, small.edge_index, small.num_nodes = d.x[:n], ei, n
    if graph.task == "graph-classification":
        small.batch = d.batch[:n]
    else:
        small.y = d.y[:n]
    return replace(graph, data=small, adjacency="edge_index")


def sparse_adjacency(graph: GraphData) -> torch.Tensor:
    """The graph as a CSR ``adj_t`` (row = target, column = source: what torch_geometric's layers take in place of
    ``edge_index``), built once per ``edge_index`` tensor: a cloned graph whose edges were changed (a
    sparsifier's) gets its own."""
    edge_index = graph.data.edge_index
    kept = graph.data.__dict__.get("_gnneval_adj_t")
    cached = kept[1] if kept is not None and kept[0] is edge_index else None
    if cached is None:
        import warnings

        from torch_geometric.utils import to_torch_csr_tensor

        n = int(graph.data.num_nodes)
        with warnings.catch_warnings(), _kept_for_any_mode():
            warnings.simplefilter("ignore")  # torch's "CSR support is in beta" notes
            cached = to_torch_csr_tensor(edge_index.flip(0), size=(n, n))
        graph.data.__dict__["_gnneval_adj_t"] = (edge_index, cached)  # beside Data's stores: not a graph attribute
    return cached


@contextmanager
def _kept_for_any_mode() -> Iterator[None]:
    """Where an adjacency kept beside the graph is built: outside inference mode (an inference tensor cannot be
    saved for backward, so a later pass with gradients could not use it) and without gradients."""
    import torch

    with torch.inference_mode(False), torch.no_grad():
        yield


def without_edges(edges: torch.Tensor) -> torch.Tensor:
    """``edges`` (an ``edge_index`` or a sparse ``adj_t``) with every edge removed, same size."""
    import torch

    if edges.layout == torch.strided:
        return edges[:, :0]
    n = edges.shape[0]
    return torch.sparse_csr_tensor(torch.zeros(n + 1, dtype=torch.int64), torch.zeros(0, dtype=torch.int64),
                                   torch.zeros(0), size=tuple(edges.shape))  # fmt: skip


def run_model(
    model: torch.nn.Module, graph: GraphData, device: str = "cpu", also: tuple[str, ...] = ()
) -> VariantOutputs:
    """Evaluate ``model`` (in eval mode, no gradients) and capture each message-passing layer's output.

    Embeddings are keyed by the layer's module name (``convs.0``); a module with weights that runs twice gets
    ``#2`` on its second output.  A module **without weights** run several times (a propagation step applied K
    times, as SGC and APPNP do) keeps its last output only, under its name: the others are intermediate steps
    of one operator, and measuring each would repeat the metrics' work K times on the widest tensors.
    ``also``: other modules (by name, ``--layer lin1``) whose outputs are captured too.
    """
    import torch

    captured: dict[str, np.ndarray] = {}

    def make_hook(name: str, repeats_kept: bool) -> Any:
        def hook(_mod: Any, _inp: Any, out: Any) -> None:
            t = out[0] if isinstance(out, (tuple, list)) else out
            if not isinstance(t, torch.Tensor):
                return
            key, n = name, 2
            while repeats_kept and key in captured:
                key, n = f"{name}#{n}", n + 1
            captured.pop(key, None)  # a weight-free step run again: its latest output, in call order
            captured[key] = t.detach().float().cpu().numpy()

        return hook

    layers = message_passing_layers(model)
    named = dict(model.named_modules())
    layers += [(n, named[n]) for n in also if n in named and n not in dict(layers)]
    handles = [m.register_forward_hook(make_hook(n, any(True for _ in m.parameters()))) for n, m in layers]
    model.eval()
    try:
        with torch.inference_mode():
            logits = forward_pass(model, graph, device)
    finally:
        for h in handles:
            h.remove()
    logits_np = logits.detach().float().cpu().numpy()
    return VariantOutputs(logits=logits_np, predictions=logits_np.argmax(axis=1).astype(np.int64), embeddings=captured)
