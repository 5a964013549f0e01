"""``--inference full|sparse|layerwise|auto``: how every forward pass of a run receives the graph.

``full`` passes ``edge_index``: torch_geometric then materialises one message per edge and channel (E x C floats per
layer — 31 GiB for a 128-wide layer at ogbn-products' 62M edges).  ``sparse`` passes a CSR adjacency (``adj_t``),
which GCN, GraphSAGE, GIN and GraphConv layers multiply by the features (spmm): memory O(E + N x C); exact on
simple graphs.  ``layerwise`` runs each message-passing layer over batches of target nodes with all their
neighbours (:mod:`gnneval.model.layerwise`): any layer whose output reads one hop of incoming edges (GAT too),
messages for one batch at a time.  ``auto`` (the default) keeps ``full`` unless the per-edge messages of the
widest layer would need more than :data:`AUTO_BYTES`; then it takes ``sparse`` where the graph is simple and the
model gives the same outputs on it, else ``layerwise`` where the model gives the same outputs that way (both
checked on a subgraph first), else ``full`` with the reasons.  The choice and its reason are printed and stored.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gnneval.core import defaults
from gnneval.core.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.contract import GraphData
    from gnneval.load.inputs import Loaded

MODES = defaults.INFERENCE
AUTO_BYTES = 4 << 30
"""``auto`` leaves ``full`` when one layer's per-edge messages would need more than this (4 GiB)."""
CHECK_NODES = 512
"""The subgraph (the first nodes and the edges among them) both ways of passing the graph are compared on."""
CHECK_BATCH_BYTES = 4 << 10
"""Layer-wise batches on that subgraph are this small (4 KiB of messages: many batches), so a layer that reads
more than one hop shows."""


def choose_inference(loaded: Loaded, mode: str, console: Any = None) -> Loaded:
    """``loaded`` with ``graph.adjacency`` set as ``mode`` decides (see the module)."""
    if mode not in MODES:
        raise UsageError(f"--inference {mode}: use one of {', '.join(MODES)}")
    need = _message_bytes(loaded)
    if mode == "full" or (mode == "auto" and need <= AUTO_BYTES):
        return loaded
    saves = f"{need / 2**30:.1f} GiB of per-edge messages per layer with edge_index"
    reasons = []
    for form in ("sparse", "layerwise") if mode == "auto" else (mode,):
        same = _same_outputs(loaded, form)
        if same is True:
            _say(console, f"inference: {DESCRIBED[form]}; same outputs as edge_index on a subgraph (it saves {saves})")
            return replace(loaded, graph=replace(loaded.graph, adjacency=form))
        if mode != "auto":
            raise UsageError(f"--inference {form}: the model does not give the same outputs that way ({same}); "
                             "use --inference full")  # fmt: skip
        reasons.append(f"{form}: {same}")
    _say(console, f"inference: full, although it needs {saves} ({'; '.join(reasons)})")
    return loaded


DESCRIBED = {
    "sparse": "sparse adjacency (CSR spmm): no per-edge messages",
    "layerwise": "layer-wise over node batches with all neighbours: per-edge messages of one batch at a time",
}


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


def _same_outputs(loaded: Loaded, form: str) -> bool | str:
    """Whether the model's outputs on the first :data:`CHECK_NODES` nodes' subgraph agree with ``edge_index``
    and with ``form`` (else the reason); ``sparse`` also needs a simple graph (no duplicate edges, no
    self-loops)."""
    import torch

    from gnneval.model.forward import forward_pass, head_subgraph, message_passing_layers, model_inputs

    graph = loaded.graph
    if form == "sparse":
        unfused = _unfused(loaded.ckpt.model)
        simple = _simple(graph) if unfused is None else unfused
        if simple is not True:
            return simple
    sub = head_subgraph(graph, CHECK_NODES)
    model = loaded.ckpt.model.eval()
    try:
        with torch.no_grad():
            a = forward_pass(model, sub, edges="edge_index")
            if form == "sparse":
                b = forward_pass(model, sub, edges="sparse")
            else:
                from gnneval.model.layerwise import layerwise

                with layerwise(message_passing_layers(model), batch_bytes=CHECK_BATCH_BYTES):
                    b = model(*model_inputs(sub))
    except Exception as exc:  # noqa: BLE001 - a layer without that path
        return f"its layers cannot run that way ({type(exc).__name__})"
    if not torch.allclose(a, b, atol=1e-4, rtol=1e-4):
        return f"its outputs differ by {float((a - b).abs().max()):.2g} (a layer that reads edges itself{_WHY[form]})"
    return True


_WHY = {
    "sparse": ", or duplicate edges or self-loops, which a sparse adjacency counts differently",
    "layerwise": ", or one that reads more than one hop",
}


def _unfused(model: Any) -> str | None:
    """Why a sparse adjacency would not save the per-edge messages: a layer without a fused
    ``message_and_aggregate`` (GAT's attention) still computes one message per edge from it."""
    from gnneval.model.forward import message_passing_layers

    slow = sorted({type(m).__name__ for _n, m in message_passing_layers(model) if not getattr(m, "fuse", False)})
    if slow:
        return f"{', '.join(slow)} computes one message per edge even from a sparse adjacency"
    return None


def _simple(graph: GraphData) -> bool | str:
    """Whether the graph has no self-loops and no edge twice (one sorted int64 key per edge: a few hundred MiB at
    ogbn-products' size, where torch_geometric's coalesce makes GiBs of copies)."""
    import numpy as np

    if graph.task == "graph-classification":
        return "graph classification keeps edge_index (its graphs are small)"
    ei = graph.data.edge_index.cpu().numpy()
    key = ei[0] * np.int64(graph.data.num_nodes) + ei[1]
    key.sort()
    if bool((ei[0] == ei[1]).any()) or bool((key[1:] == key[:-1]).any()):
        return "the graph has duplicate edges or self-loops, which a sparse adjacency counts differently"
    return True
