"""Scatter-free ONNX export: message passing as a sparse-dense matrix product.

A plain ONNX export of a PyG model turns every aggregation into ``ScatterElements`` (and an ``Expand`` that
broadcasts the index).  ONNX Runtime runs that kernel on one thread with per-element index arithmetic; on
the zoo GCN it is about 60% of the session's time and makes ONNX Runtime ~3x slower than PyTorch eager,
whose ``scatter_add`` has a sorted, parallel fast path for PyG's broadcast index.  Rewriting the scatter as
``ScatterND(reduction=add)`` is fast but ONNX Runtime 1.31's multi-threaded ScatterND-add races on
duplicate indices (wrong outputs with 2 threads); a sort + cumsum segment sum is exact but not faster.

For layers whose aggregation is linear in the messages -- ``GCNConv``, ``SAGEConv`` (mean / sum),
``GINConv``, ``GraphConv`` (sum / mean) -- the aggregation *is* a product with the adjacency matrix, and
ONNX Runtime has a kernel for exactly that: ``com.microsoft::SparseToDenseMatMul``.  This module rewrites
each such layer into that form (degrees and GCN's symmetric normalisation are computed in the graph from
the same sparse input), exports it with the exporters in the order :func:`gnneval.core.defaults.auto_exporter`
describes — for dynamo the op is written with ``torch.onnx.ops.symbolic``, for TorchScript as an autograd
function with a ``symbolic`` — and declares the graph input
``adj`` as a sparse float tensor of shape ``[num_nodes, num_nodes]``.  The caller passes the graph as a
CSR matrix ``adj[target, source] = number of edges source -> target``, built once per graph outside the
timed region (as PyG's ``ToSparseTensor`` would).  The export is still checked against the unmodified
PyTorch model on the same input.

Not covered (the scatter export is used, and the reason recorded): attention (GAT: edge-dependent
weights), max/min/other aggregations, edge weights or features, graphs with self-loops (GCN's
``add_remaining_self_loops`` would differ), and any layer this module does not know.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gnneval.core.contract import GraphData

ADJ_INPUT = "adj"


def _spmm_class():
    import torch

    class SparseDenseMatMul(torch.autograd.Function):
        """``adj @ h`` with ``adj`` the graph's sparse adjacency; exists only to be exported."""

        @staticmethod
        def forward(ctx, adj, h):  # noqa: D401 - traced, never evaluated for its values
            return torch.zeros_like(h)

        @staticmethod
        def symbolic(g, adj, h):
            out = g.op("com.microsoft::SparseToDenseMatMul", adj, h)
            out.setType(h.type())  # same shape and dtype as h (square adjacency); silences a shape warning
            return out

    return SparseDenseMatMul


def _aggr_name(conv) -> str:
    return type(getattr(conv, "aggr_module", None)).__name__ if hasattr(conv, "aggr_module") else str(conv.aggr)


def why_not(model: torch.nn.Module, graph: GraphData | None = None) -> str | None:
    """Why ``model`` (on ``graph``) cannot take the sparse-adjacency export, or ``None`` when it can."""
    from torch_geometric.nn import GCNConv, GINConv, GraphConv, SAGEConv
    from torch_geometric.nn.conv import MessagePassing
    from torch_geometric.utils import contains_self_loops

    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, MessagePassing)]
    if not layers:
        return "no message-passing layer"
    for name, m in layers:
        kind = type(m).__name__
        aggr = _aggr_name(m)
        if isinstance(m, GCNConv):
            if m.improved or getattr(m, "cached", False) and m._cached_edge_index is not None:
                return f"layer {name} ({kind}) uses improved=True or a cached normalisation"
        elif isinstance(m, (SAGEConv, GraphConv)):
            if aggr not in ("MeanAggregation", "SumAggregation"):
                return f"layer {name} ({kind}) aggregates with {aggr}"
        elif isinstance(m, GINConv):
            if aggr != "SumAggregation":
                return f"layer {name} ({kind}) aggregates with {aggr}"
        else:
            return f"layer {name} is a {kind}, whose aggregation is not a sparse matrix product"
    if graph is not None:
        if graph.task == "graph-classification":
            return "graph-level models take a batch vector, which the sparse form does not pass on"
        data = graph.data
        if getattr(data, "edge_weight", None) is not None or getattr(data, "edge_attr", None) is not None:
            return "the graph has edge weights or features"
        if contains_self_loops(data.edge_index):
            return "the graph has self-loops"
    return None


def _dynamo_spmm(adj, h):
    import torch

    return torch.onnx.ops.symbolic(
        "com.microsoft::SparseToDenseMatMul", (adj, h), dtype=h.dtype, shape=h.shape, version=1
    )


def _rewrite(conv, exporter: str = "torchscript"):
    """The sparse-adjacency form of one supported layer (a module taking ``(x, adj)``)."""
    import torch
    from torch_geometric.nn import GCNConv, GINConv, GraphConv, SAGEConv

    spmm = _dynamo_spmm if exporter == "dynamo" else _spmm_class().apply

    def degree(adj, h):
        return spmm(adj, torch.ones_like(h[:, :1]))

    class Sparse(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x, adj, *args, **kwargs):
            c = self.conv
            if isinstance(c, GCNConv):
                h = c.lin(x)
                if c.normalize:  # D^-1/2 (A + I) D^-1/2 h as dinv * (A g + g), g = dinv * h: fewer [N, C] buffers
                    deg = degree(adj, h) + (1.0 if c.add_self_loops else 0.0)
                    dinv = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
                    g = dinv * h
                    out = dinv * (spmm(adj, g) + g) if c.add_self_loops else dinv * spmm(adj, g)
                else:
                    out = spmm(adj, h) + (h if c.add_self_loops else 0)
                return out + c.bias if c.bias is not None else out
            if isinstance(c, SAGEConv):
                src = c.lin(x).relu() if c.project and hasattr(c, "lin") else x
                out = spmm(adj, src)
                if _aggr_name(c) == "MeanAggregation":
                    out = out / degree(adj, src).clamp(min=1.0)
                out = c.lin_l(out)
                if c.root_weight:
                    out = out + c.lin_r(x)
                return torch.nn.functional.normalize(out, p=2.0, dim=-1) if c.normalize else out
            if isinstance(c, GraphConv):
                out = spmm(adj, x)
                if _aggr_name(c) == "MeanAggregation":
                    out = out / degree(adj, x).clamp(min=1.0)
                return c.lin_rel(out) + c.lin_root(x)
            if isinstance(c, GINConv):
                return c.nn(spmm(adj, x) + (1 + c.eps) * x)
            raise TypeError(f"no sparse form for {type(c).__name__}")

    return Sparse()


def sparse_form(model: torch.nn.Module, exporter: str = "torchscript") -> torch.nn.Module:
    """A copy of ``model`` whose message-passing layers take the sparse adjacency in place of ``edge_index``
    (their aggregation written for ``exporter``: ``torch.onnx.ops.symbolic`` for dynamo, an autograd
    function with a ``symbolic`` for TorchScript)."""
    from torch_geometric.nn.conv import MessagePassing

    model = copy.deepcopy(model).cpu().eval()
    for name, module in list(model.named_modules()):
        if isinstance(module, MessagePassing):
            parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
            setattr(parent, name.rpartition(".")[2], _rewrite(module, exporter))
    return model


def export_sparse(model: torch.nn.Module, graph: GraphData, path: Path, exporter: str = "auto") -> str:
    """Export ``model`` in its sparse-adjacency form to ``path`` (inputs ``x`` and sparse ``adj``, output
    ``out``) with ``exporter`` (``auto``: in :data:`gnneval.core.defaults.EXPORTER_ORDER`, the next where one
    fails); returns the exporter used."""
    import onnx
    import torch

    from gnneval.bench.export import export_with_fallback

    x = graph.data.x.detach().cpu().float()
    name = export_with_fallback(
        lambda exp: sparse_form(model, exp),
        (x, torch.zeros(1)),
        path,
        exporter,
        ["x", ADJ_INPUT],
        what="sparse ONNX export",
        custom_opsets={"com.microsoft": 1},
    )
    proto = onnx.load(str(path))
    for inp in proto.graph.input:
        if inp.name == ADJ_INPUT:
            inp.type.CopyFrom(
                onnx.helper.make_sparse_tensor_type_proto(onnx.TensorProto.FLOAT, ["num_nodes", "num_nodes"])
            )
    onnx.save(proto, str(path))
    return name


class CsrAdjacency:
    """The graph as an ONNX Runtime sparse CSR value (``.value``): ``adj[target, source]`` counts edges
    ``source -> target``.  Where the run's passes take the sparse adjacency (a simple graph, so every count is 1)
    its buffers are shared with that one (:func:`gnneval.model.forward.sparse_adjacency`), without a copy (0.75
    GiB at ogbn-products' size); else they are built from ``edge_index``.  Keeps the buffers alive, which the CPU
    value references."""

    def __init__(self, graph: GraphData):
        import onnxruntime as ort

        n = int(graph.data.num_nodes)
        if getattr(graph, "adjacency", "edge_index") == "sparse":
            self.values, self.cols, self.indptr = _shared_csr(graph)
        else:
            self.values, self.cols, self.indptr = _counted_csr(graph.data.edge_index.numpy(), n)
        self.tensor = ort.SparseTensor.sparse_csr_from_numpy(
            np.array([n, n], np.int64), self.values, self.cols, self.indptr, ort.OrtDevice.make("cpu", 0)
        )
        self.value = ort.OrtValue.ort_value_from_sparse_tensor(self.tensor)


def _shared_csr(graph: GraphData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, columns, row pointers)`` of the run's own CSR adjacency, as NumPy views where the dtypes allow."""
    import torch

    from gnneval.model.forward import sparse_adjacency

    adj = sparse_adjacency(graph)
    return (adj.values().to(torch.float32).numpy(), adj.col_indices().to(torch.int64).numpy(),
            adj.crow_indices().to(torch.int64).numpy())  # fmt: skip


def _counted_csr(edge_index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, columns, row pointers)`` of ``adj[target, source]`` = the number of edges ``source -> target``."""
    src, dst = np.asarray(edge_index[0], dtype=np.int64), np.asarray(edge_index[1], dtype=np.int64)
    keys, counts = np.unique(dst * n + src, return_counts=True)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(keys // n, minlength=n))]).astype(np.int64)
    return counts.astype(np.float32), np.ascontiguousarray(keys % n, dtype=np.int64), indptr
