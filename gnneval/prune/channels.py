"""Structured channel pruning that physically shrinks the model.

For each hidden channel group (the output channels of one layer, consumed by the
next), the pruner scores channels, keeps the best ``round((1 - sparsity) * C)``
(at least one), and removes the others from every tensor that produces them
(weight rows, biases, BatchNorm statistics) and every tensor that consumes them
(weight columns).  The pruned model has fewer parameters and FLOPs, and runs.

Understood layers: torch ``nn.Linear``, torch_geometric ``Linear``, ``GCNConv``,
``SAGEConv`` (mean/sum/max aggregation, no ``project``), ``GraphConv``,
``GATConv`` (see below), ``GINConv`` (its MLP's linear and BatchNorm layers are
pruned like any others: the aggregation ``(1 + eps) x + sum`` is channel-wise),
and ``BatchNorm`` between them, in a chain as in torch_geometric's ``GCN``,
``GraphSAGE``, ``GAT``, ``GIN`` and ``GraphConv`` models, through pooling
readouts to linear heads.  Anything else with parameters is refused by name.

GAT: a hidden ``GATConv`` with ``heads`` heads of ``C`` channels produces
``heads x C`` outputs laid out head-major.  ``gat=channels`` (default) removes
the same channels from every head (``C`` shrinks; the rows of ``lin``, the last
axis of ``att_src``/``att_dst``, the bias and the next layer's columns shrink
together); ``gat=heads`` removes whole heads (``heads`` shrinks; the attention
vectors lose those heads), scored by the norm of each head's weights.  The
module's stored ``out_channels`` / ``heads`` are updated.  After surgery the pruner checks, on the dataset, that the
shrunk model gives the same outputs as the original with the same channels
zeroed; a model with connections it does not understand fails that check with a
message naming the layer, never a silently wrong model.

:class:`ChannelPruner` is public (``gnneval.plugin.ChannelPruner``): subclass it and override
:meth:`ChannelPruner.score_channels` for a new channel criterion (the built-in ``structured``
pruner and the ``random-channels`` plugin in ``plugins/`` do).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from gnneval.core.contract import PruneContext, PruneOutcome, Pruner
from gnneval.core.errors import UnsupportedModelError, UsageError
from gnneval.prune.module_sizes import sync_sizes

CHECK_TOLERANCE = 1e-4


@dataclass
class Slot:
    owner: Any  #: the module holding the tensor
    attr: str  #: parameter or buffer name on ``owner``
    dim: int  #: the channel dimension
    index_map: Any = None  #: for each entry along ``dim``, the (logical) channel it belongs to; None = itself


@dataclass
class Unit:
    """A layer the pruner knows how to shrink."""

    name: str
    module: Any
    role: str  #: "producer" (conv / linear) or "norm"
    out_slots: list[Slot] = field(default_factory=list)
    in_slots: list[Slot] = field(default_factory=list)
    channels: int | None = None  #: logical output channels (GAT: per-head channels or heads); None = out width
    out_map: Any = None  #: for each output column of the layer, its logical channel; None = itself
    prunable_out: bool = True  #: False: its outputs are never removed (it may still consume a pruned group)

    @property
    def out_channels(self) -> int:
        """Width of the layer's output tensor (what a consumer or a norm after it sees)."""
        if self.out_map is not None:
            return int(self.out_map.numel())
        s = self.out_slots[0]
        return int(getattr(s.owner, s.attr).shape[s.dim])

    @property
    def logical_channels(self) -> int:
        return self.channels if self.channels is not None else self.out_channels

    @property
    def in_channels(self) -> int:
        if self.role == "norm":
            return self.out_channels
        s = self.in_slots[0]
        return int(getattr(s.owner, s.attr).shape[s.dim])


def _is_linear(mod: Any) -> bool:
    import torch
    from torch_geometric.nn.dense.linear import Linear as PygLinear

    return isinstance(mod, (torch.nn.Linear, PygLinear))


def _linear_slots(lin: Any) -> tuple[list[Slot], list[Slot]]:
    out = [Slot(lin, "weight", 0)]
    if getattr(lin, "bias", None) is not None:
        out.append(Slot(lin, "bias", 0))
    return out, [Slot(lin, "weight", 1)]


def _gat_unit(name: str, mod: Any, mode: str) -> Unit | str:
    import torch

    if getattr(mod, "lin", None) is None or not _is_linear(mod.lin):
        return "GATConv with separate source/target projections (bipartite input) is not supported"
    if getattr(mod, "res", None) is not None or getattr(mod, "lin_edge", None) is not None:
        return "GATConv with a residual projection or edge features is not supported"
    if getattr(mod.lin, "bias", None) is not None:
        return "GATConv whose projection has a bias is not supported"
    heads, c = int(mod.heads), int(mod.out_channels)
    flat = torch.arange(heads * c)
    logical, att_dim = (flat % c, 2) if mode == "channels" else (flat // c, 1)
    out = [Slot(mod.lin, "weight", 0, logical), Slot(mod, "att_src", att_dim), Slot(mod, "att_dst", att_dim)]
    if mod.concat:
        out_map = logical
        if getattr(mod, "bias", None) is not None:
            out.append(Slot(mod, "bias", 0, logical))
    else:  # heads are averaged: the output has C columns
        if mode == "heads":  # losing heads would change the mean: only its inputs can shrink
            return Unit(
                name,
                mod,
                "producer",
                out,
                [Slot(mod.lin, "weight", 1)],
                channels=heads,
                out_map=None,
                prunable_out=False,
            )
        out_map = None
        if getattr(mod, "bias", None) is not None:
            out.append(Slot(mod, "bias", 0))
    return Unit(
        name,
        mod,
        "producer",
        out,
        [Slot(mod.lin, "weight", 1)],
        channels=c if mode == "channels" else heads,
        out_map=out_map,
    )


def describe(name: str, mod: Any, gat_mode: str = "channels") -> Unit | None | str:
    """A :class:`Unit` for a layer the pruner understands, None for a layer it
    does not need to touch, or a string saying why it cannot be shrunk."""
    import torch
    from torch_geometric.nn import GATConv, GCNConv, GINConv, GraphConv, MessagePassing, SAGEConv
    from torch_geometric.nn.norm import BatchNorm as PygBatchNorm

    if isinstance(mod, GINConv):
        return None  # channel-wise aggregation and a scalar eps: its MLP's layers are the units
    if isinstance(mod, GATConv):
        return _gat_unit(name, mod, gat_mode)

    if _is_linear(mod):
        o, i = _linear_slots(mod)
        return Unit(name, mod, "producer", o, i)
    if isinstance(mod, GCNConv):
        o, i = _linear_slots(mod.lin)
        if mod.bias is not None:
            o.append(Slot(mod, "bias", 0))
        return Unit(name, mod, "producer", o, i)
    if isinstance(mod, SAGEConv):
        if getattr(mod, "project", False) or not _is_linear(mod.lin_l):
            return "SAGEConv with project=True or a non-linear aggregator is not supported"
        o, i = _linear_slots(mod.lin_l)
        if getattr(mod, "root_weight", False):
            o2, i2 = _linear_slots(mod.lin_r)
            o, i = o + o2, i + i2
        return Unit(name, mod, "producer", o, i)
    if isinstance(mod, GraphConv):
        o, i = _linear_slots(mod.lin_rel)
        o2, i2 = _linear_slots(mod.lin_root)
        return Unit(name, mod, "producer", o + o2, i + i2)
    bn = mod.module if isinstance(mod, PygBatchNorm) else mod
    if isinstance(bn, torch.nn.BatchNorm1d):
        slots = [
            Slot(bn, a, 0)
            for a in ("weight", "bias", "running_mean", "running_var")
            if getattr(bn, a, None) is not None
        ]
        return Unit(name, mod, "norm", slots, [])
    if isinstance(mod, MessagePassing):
        return f"{type(mod).__name__} is not a layer the structured pruner can shrink yet"
    if any(True for _ in mod.parameters(recurse=False)):
        return f"{type(mod).__name__} has parameters the structured pruner does not understand"
    return None


def find_units(model: Any, gat_mode: str = "channels") -> list[Unit]:
    """Layers of ``model`` the pruner understands, outermost first; raises on any it cannot handle."""
    units: list[Unit] = []
    claimed: list[str] = []
    for name, mod in model.named_modules():
        if any(name.startswith(c + ".") for c in claimed):
            continue
        d = describe(name, mod, gat_mode)
        if isinstance(d, str):
            raise UnsupportedModelError(f"structured pruning cannot shrink layer '{name or type(model).__name__}': {d}")
        if d is not None:
            units.append(d)
            claimed.append(name)
    return units


def call_order(model: Any, units: list[Unit], inputs: Any) -> list[Unit]:
    """Units in the order the forward pass calls them; each must run exactly once."""
    import torch

    order: list[str] = []
    by_module = {id(u.module): u for u in units}
    handles = [u.module.register_forward_hook(lambda m, i, o: order.append(by_module[id(m)].name)) for u in units]
    model.eval()
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    seen = set()
    for name in order:
        if name in seen:
            raise UnsupportedModelError(
                f"structured pruning cannot shrink layer '{name}': it runs more than once per forward pass "
                "(shared weights)"
            )
        seen.add(name)
    by_name = {u.name: u for u in units}
    return [by_name[n] for n in order]


@dataclass
class ChannelGroup:
    """Hidden channels produced by ``producer``, normalised by ``norms``, consumed by ``consumer``."""

    producer: Unit
    norms: list[Unit]
    consumer: Unit

    @property
    def channels(self) -> int:
        """Logical channels: what is scored and kept (GAT: per-head channels or heads)."""
        return self.producer.logical_channels

    def weight_rows(self, grad: bool = False) -> Any:
        """Each producing weight matrix as ``[channels, -1]``: all entries that make one logical channel
        (attention vectors are left out: they do not produce channels).  ``grad``: their gradients."""
        import torch

        for slot in self.producer.out_slots:
            t = getattr(slot.owner, slot.attr)
            if grad:
                t = t.grad if t.grad is not None else torch.zeros_like(t)
            w = t.detach().double()
            if w.dim() < 2 or slot.attr.startswith("att"):
                continue
            w = w.movedim(slot.dim, 0)
            if slot.index_map is not None:
                w = w[torch.argsort(slot.index_map, stable=True)]  # rows of one channel become contiguous
            yield w.reshape(self.channels, -1)


def _consumer_cols(group: ChannelGroup, grad: bool) -> Any:
    """Each consuming weight matrix as ``[channels, -1]``: the columns that read one logical channel."""
    import torch

    for slot in group.consumer.in_slots:
        t = getattr(slot.owner, slot.attr)
        if grad:
            t = t.grad if t.grad is not None else torch.zeros_like(t)
        w = t.detach().double()
        if w.dim() < 2:
            continue
        w = w.movedim(slot.dim, 0)
        index_map = slot.index_map if slot.index_map is not None else group.producer.out_map
        if index_map is not None:
            w = w[torch.argsort(index_map, stable=True)]
        yield w.reshape(group.channels, -1)


ChannelGroup.weight_cols = _consumer_cols  # type: ignore[attr-defined]


def channel_groups(ordered: list[Unit]) -> list[ChannelGroup]:
    groups: list[ChannelGroup] = []
    producer: Unit | None = None
    norms: list[Unit] = []
    for u in ordered:
        if u.role == "norm":
            if producer is None:
                raise UnsupportedModelError(
                    f"structured pruning cannot shrink layer '{u.name}': a normalisation "
                    "layer before the first linear layer is not supported"
                )
            if u.out_channels != producer.out_channels:
                raise UnsupportedModelError(
                    f"structured pruning cannot shrink layer '{u.name}': it has {u.out_channels} channels but "
                    f"follows '{producer.name}' with {producer.out_channels}"
                )
            norms.append(u)
            continue
        if producer is not None:
            if u.in_channels != producer.out_channels:
                raise UnsupportedModelError(
                    f"structured pruning cannot shrink layer '{u.name}': it takes {u.in_channels} channels but "
                    f"'{producer.name}' before it produces {producer.out_channels} (a skip connection or "
                    "concatenation the pruner does not understand?)"
                )
            if producer.prunable_out:
                groups.append(ChannelGroup(producer, norms, u))
        producer, norms = u, []
    return groups


def _entries(index_map: Any, channels: Any) -> Any:
    """Positions along an axis whose logical channel is in ``channels`` (all of them, in order)."""
    import torch

    if index_map is None:
        return channels
    return torch.nonzero(torch.isin(index_map, channels)).view(-1)


def _select(slot: Slot, keep: Any, index_map: Any = None) -> None:
    import torch

    t = getattr(slot.owner, slot.attr)
    idx = _entries(slot.index_map if slot.index_map is not None else index_map, keep)
    new = t.detach().index_select(slot.dim, idx.to(t.device)).clone()
    if isinstance(t, torch.nn.Parameter):
        setattr(slot.owner, slot.attr, torch.nn.Parameter(new, requires_grad=t.requires_grad))
    else:
        slot.owner._buffers[slot.attr] = new


def _zero(slot: Slot, drop: Any, index_map: Any = None) -> None:
    import torch

    t = getattr(slot.owner, slot.attr)
    idx = _entries(slot.index_map if slot.index_map is not None else index_map, drop)
    with torch.no_grad():
        t.index_fill_(slot.dim, idx.to(t.device), 0.0)


class ChannelPruner(Pruner):
    """Base class of channel pruners: subclasses choose *which* channels by :meth:`score_channels`; the
    surgery (every producing and consuming tensor, BatchNorm statistics, the modules' stored channel counts)
    and its check on the data come with it.

    Args:
        gat: for ``GATConv`` layers, ``"channels"`` removes the same channels from every head, ``"heads"``
            removes whole heads.
    """

    structured = True

    def __init__(self, *, gat: str = "channels") -> None:
        super().__init__()
        if gat not in ("channels", "heads"):
            raise UsageError(f"unknown gat mode '{gat}'; use channels or heads")
        self.gat = gat

    def score_channels(self, group: ChannelGroup, index: int, ctx: PruneContext) -> Any:
        """Return a 1-D tensor of ``group.channels`` scores; the highest are kept."""
        raise NotImplementedError

    def prepare(self, model: Any, groups: list[ChannelGroup], ctx: PruneContext) -> None:
        """Called once, after the channel groups are found and before any is scored (data-driven criteria
        accumulate what they need here).  Default: nothing."""

    def keep_count(self, group: ChannelGroup, sparsity: float) -> int:
        """How many of ``group``'s channels to keep: ``round((1 - sparsity) * channels)``, at least one."""
        return max(1, int(round((1.0 - sparsity) * group.channels)))

    def prune(self, model: Any, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        from gnneval.model.forward import model_inputs
        from gnneval.prune.variants import check_graph

        inputs = model_inputs(check_graph(ctx.graph))  # tracing and the check: on a subgraph above 100,000 nodes
        gat_mode = self.gat
        groups = channel_groups(call_order(model, find_units(model, gat_mode), inputs))
        if not groups:
            raise UnsupportedModelError(
                "structured pruning found no hidden channels to remove in this model "
                "(it needs at least two linear or message-passing layers in a chain)"
            )
        self.prepare(model, groups, ctx)
        plan = [self._choose(group, gi, sparsity, ctx) for gi, group in enumerate(groups)]
        reference = _zeroed_twin(model, plan, gat_mode)
        details: dict[str, Any] = {
            "criterion": getattr(self, "criterion", type(self).__name__),
            "channels": _remove(model, plan),
        }
        details["check_max_abs_diff"] = _check_equal(model, reference, inputs, plan[0][0].producer.name)
        return PruneOutcome(model=model, masks={}, details=details)

    def _choose(self, group: ChannelGroup, gi: int, sparsity: float, ctx: PruneContext) -> tuple:
        """``(group, kept channels, dropped channels)``: the best ``round((1 - sparsity) * C)`` by score."""
        import torch

        c = group.channels
        n_keep = min(c, self.keep_count(group, sparsity))
        scores = torch.as_tensor(self.score_channels(group, gi, ctx), dtype=torch.float64).flatten()
        if scores.numel() != c:
            raise UsageError(
                f"pruner '{self.name}': score_channels returned {scores.numel()} scores for "
                f"{c} channels of layer '{group.producer.name}'"
            )
        order = torch.argsort(-scores, stable=True)
        return group, torch.sort(order[:n_keep]).values, torch.sort(order[n_keep:]).values


def _zeroed_twin(model: Any, plan: list[tuple], gat_mode: str) -> Any:
    """The reference: an untouched copy with the dropped channels zeroed instead of removed."""
    reference = copy.deepcopy(model)
    ref_units = dict(reference.named_modules())
    for group, _keep, drop in plan:
        for unit in [group.producer, *group.norms]:
            twin = describe(unit.name, ref_units[unit.name], gat_mode)
            assert isinstance(twin, Unit), twin  # the same module described the same way as the original
            for slot in twin.out_slots:
                if unit.role == "producer" or slot.attr in ("weight", "bias"):
                    _zero(slot, drop, None if unit.role == "producer" else group.producer.out_map)
    return reference


def _remove(model: Any, plan: list[tuple]) -> dict[str, str]:
    """The surgery: keep only the chosen channels in every tensor that produces or consumes them."""
    channels = {}
    for group, keep, _drop in plan:
        before = group.channels
        for slot in group.producer.out_slots:
            _select(slot, keep)
        for unit in group.norms:
            for slot in unit.out_slots:
                _select(slot, keep, group.producer.out_map)
        for slot in group.consumer.in_slots:
            _select(slot, keep, group.producer.out_map)
        for unit in [group.producer, *group.norms, group.consumer]:
            sync_sizes(unit.module)
        channels[group.producer.name] = f"{before}->{len(keep)}"
    widths = {len(keep) for _g, keep, _d in plan}
    if hasattr(model, "hidden_channels") and len(widths) == 1:
        model.hidden_channels = widths.pop()
    return channels


def _check_equal(model: Any, reference: Any, inputs: tuple, first_layer: str) -> float:
    """Removal must equal zeroing: the largest output difference, or UnsupportedModelError naming the layer."""
    import torch

    model.eval()
    reference.eval()
    try:
        with torch.no_grad():
            got = model(*inputs)
            want = reference(*inputs)
    except RuntimeError as exc:
        raise UnsupportedModelError(
            f"structured pruning broke the model at layer '{first_layer}' or after it: "
            f"{str(exc).splitlines()[0]} (the model has connections the pruner does not understand)"
        ) from None
    diff = float((got - want).abs().max()) if got.shape == want.shape else float("inf")
    scale = float(want.abs().max()) or 1.0
    if not diff <= CHECK_TOLERANCE * max(1.0, scale):
        raise UnsupportedModelError(
            f"structured pruning of layer '{first_layer}' changed the outputs beyond zeroing the "
            f"same channels (max difference {diff:.3g}); the model has connections the pruner does not "
            "understand, so no pruned model is returned"
        )
    return diff
