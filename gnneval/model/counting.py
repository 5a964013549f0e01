"""Counting what pruning changed: parameters, non-zeros, bytes and FLOPs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gnneval.core.contract import GraphData


def prunable_weights(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """The weight matrices pruners act on: parameters named ``*weight`` with two or more dims.

    Biases, normalisation scales (1-D) and embeddings of other shapes are left alone.
    """
    return [(n, p) for n, p in model.named_parameters() if n.endswith("weight") and p.dim() >= 2]


def count_params(model: torch.nn.Module) -> tuple[int, int]:
    """``(parameters, non-zero parameters)``."""
    total = nonzero = 0
    for p in model.parameters():
        total += p.numel()
        nonzero += int((p != 0).sum())
    return total, nonzero


def size_bytes(model: torch.nn.Module) -> int:
    """Bytes of parameters and buffers stored densely."""
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def weight_shapes(model: torch.nn.Module) -> dict[str, int]:
    return {n: p.numel() for n, p in prunable_weights(model)}


def layer_sparsity(model: torch.nn.Module, dense_numel: dict[str, int]) -> dict[str, float]:
    """For each dense weight tensor: the fraction of its entries that are zero or were removed."""
    current = {n: p for n, p in prunable_weights(model)}
    out = {}
    for name, numel in dense_numel.items():
        p = current.get(name)
        nz = int((p != 0).sum()) if p is not None else 0
        out[name] = 1.0 - nz / numel if numel else 0.0
    return out


HIST_EDGES = tuple(10.0 ** (-6 + 0.1 * i) for i in range(71))  #: |w| bins, 1e-6 .. 10, log-spaced
"""Bin edges of the stored weight-magnitude histograms (zeros are counted separately)."""


def weight_histograms(model: torch.nn.Module) -> dict[str, list[int]]:
    """Per prunable weight tensor: ``[zeros, below 1e-6, counts per HIST_EDGES bin..., above 10]``."""
    import numpy as np

    edges = np.asarray(HIST_EDGES)
    out = {}
    for name, p in prunable_weights(model):
        a = p.detach().abs().flatten().cpu().numpy()
        nz = a[a != 0]
        counts, _ = np.histogram(np.clip(nz, edges[0], edges[-1]), bins=edges)
        out[name] = [int((a == 0).sum()), int((nz < edges[0]).sum()), *map(int, counts), int((nz > edges[-1]).sum())]
    return out


def count_flops(model: torch.nn.Module, graph: GraphData, device: str = "cpu") -> tuple[int, int]:
    """Inference FLOPs of one full-graph forward pass: ``(dense kernels, sparse kernels)``.

    Dense linear algebra is counted by ``torch.utils.flop_counter`` (a multiply-add
    is 2 FLOPs).  Message passing is counted per layer from the aggregated tensor:
    ``E x C`` additions, plus ``E x C`` multiplications when messages are scaled by an
    edge weight or attention coefficient.  The sparse figure scales each module's
    matrix-multiply FLOPs by the density of its weights (what a sparse kernel skips).
    Under ``--inference layerwise`` the pass counted is the one run: each batch recomputes the dense transforms
    of the neighbours it reads (see :mod:`gnneval.model.layerwise`).
    """
    import torch

    from gnneval.model.forward import forward_pass

    model.eval()
    with counting_flops(model) as counted, torch.inference_mode():
        forward_pass(model, graph, device)
    return counted.flops


@dataclass
class CountedFlops:
    """What :func:`counting_flops` counted: ``flops`` = ``(dense kernels, sparse kernels)`` once the block ends."""

    flops: tuple[int, int] = (0, 0)


@contextmanager
def counting_flops(model: torch.nn.Module) -> Iterator[CountedFlops]:
    """Count the FLOPs of the forward pass of ``model`` run in the block, as :func:`count_flops` does: a pass the
    caller makes anyway (the measuring pass) is counted without running the model again."""
    from torch.utils.flop_counter import FlopCounterMode

    from gnneval.model.forward import message_passing_layers

    mp_flops = [0]
    handles = [
        m.register_propagate_forward_hook(_propagate_counter(mp_flops))  # type: ignore[operator]
        for _, m in message_passing_layers(model)
        if hasattr(m, "register_propagate_forward_hook")
    ]
    counted = CountedFlops()
    try:
        with FlopCounterMode(display=False) as counter:
            yield counted
    finally:
        for h in handles:
            h.remove()
    dense = int(counter.get_total_flops())
    saved = _sparse_saved(model, counter.get_flop_counts())
    counted.flops = (dense + mp_flops[0], int(round(dense - saved)) + mp_flops[0])


def _propagate_counter(total: list[int]) -> Any:
    """A propagate hook adding a layer's message-passing FLOPs to ``total[0]``: ``E x C`` additions, doubled where
    messages are scaled (an edge weight, attention, a normalisation, or a weighted sparse adjacency)."""
    import torch

    def hook(_mod: Any, inputs: Any, out: Any) -> None:
        edge_index, _size, kwargs = inputs
        t = out[0] if isinstance(out, (tuple, list)) else out
        if not isinstance(t, torch.Tensor) or not isinstance(edge_index, torch.Tensor):
            return None
        scaled = any(kwargs.get(k) is not None for k in ("edge_weight", "alpha", "norm"))
        if edge_index.layout != torch.strided:  # a sparse adj_t: one entry per edge, its value the edge's weight
            e = int(edge_index._nnz())
            scaled = scaled or not bool((edge_index.values() == 1).all())
        else:
            e = int(edge_index.shape[1]) if edge_index.dim() == 2 else int(edge_index.numel())
        c = int(t.numel() // max(t.shape[0], 1))
        total[0] += e * c * (2 if scaled else 1)
        return None

    return hook


def _sparse_saved(model: torch.nn.Module, per_module: dict[str, Any]) -> float:
    """The matrix-multiply FLOPs a sparse kernel would skip: each leaf module's times its weights' zero share."""
    import torch

    modules = dict(model.named_modules(remove_duplicate=False))  # a module kept under two names: both found
    saved = 0.0
    for key, ops in per_module.items():
        fqn = key.split(".", 1)[1] if "." in key else ""
        mod = modules.get(fqn)
        if mod is None or not fqn:
            continue
        w = getattr(mod, "weight", None)
        if not isinstance(w, torch.Tensor) or w.dim() < 2 or list(mod.children()):
            continue
        flops = sum(int(v) for v in ops.values())
        saved += flops * (1.0 - float((w != 0).sum()) / w.numel())
    return saved
