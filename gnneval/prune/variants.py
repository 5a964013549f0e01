"""Making one variant: a fresh copy of the dense model, pruned by a pruner plugin, its masks enforced,
optionally fine-tuned, and checked before anything is measured on it."""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gnneval.core import defaults
from gnneval.core.contract import GraphData, PruneContext, PruneOutcome, Pruner
from gnneval.core.errors import PluginError

if TYPE_CHECKING:  # pragma: no cover
    import torch

SPARSITY_SLACK = 0.01
"""An unstructured pruner may fall short of the sparsity asked for by this much (rounding) unreported."""


@dataclass(frozen=True)
class PruneSettings:
    """The prune stage's settings: which pruners at which sparsities, their options (``-o NAME.KEY=VALUE``),
    fine-tuning (``--finetune-epochs``) and the seeds random choices come from (``--seeds``: each seeded
    variant once per seed)."""

    pruners: tuple[str, ...] = ()
    sparsities: tuple[float, ...] = defaults.SPARSITIES
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  #: pruner name -> its options
    finetune_epochs: int = 0
    seed: int = defaults.SEED
    seeds: tuple[int, ...] = (defaults.SEED,)

    def repeats(self, pruner: Pruner) -> tuple[int, ...]:
        """The seeds to make ``pruner``'s variants with: every seed where the variant depends on one (the
        pruner says so, or fine-tuning follows), else the first alone."""
        if len(self.seeds) > 1 and (self.finetune_epochs > 0 or pruner.uses_seed()):
            return self.seeds
        return self.seeds[:1]

    def jobs(self) -> list[tuple[str, float]]:
        """Every (pruner, sparsity) to make, pruner by pruner."""
        return [(p, sp) for p in self.pruners for sp in self.sparsities]


@dataclass
class Variant:
    """A pruned model ready to be measured."""

    model: Any  #: ``torch.nn.Module``
    graph: GraphData  #: the graph to evaluate it on (a sparsifier's, or the dataset)
    masks: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    training_flops: float = 0.0
    warnings: list[str] = field(default_factory=list)  #: e.g. the pruner fell short of the sparsity


def make_variant(
    pruner: Pruner, dense_model: torch.nn.Module, sparsity: float, ctx: PruneContext, finetune_epochs: int = 0
) -> Variant:
    """Prune a deep copy of ``dense_model`` with ``pruner``; the dense model is never touched.

    :raises PluginError: when the pruner returns something that is not a usable variant (naming what).
    """

    model = copy.deepcopy(dense_model)
    outcome = pruner.prune(model, sparsity, ctx)
    if not isinstance(outcome, PruneOutcome):
        raise PluginError(f"prune() returned {type(outcome).__name__}, not a PruneOutcome")
    model = outcome.model
    graph = outcome.graph or ctx.graph
    _enforce_masks(model, outcome.masks)
    v = Variant(model, graph, dict(outcome.masks), dict(outcome.details), float(outcome.training_flops or 0.0))
    if finetune_epochs > 0:
        from gnneval.prune.training import train

        tr = train(
            model, graph, epochs=finetune_epochs, patience=min(finetune_epochs, 50), masks=outcome.masks, seed=ctx.seed
        )
        v.details["finetune"] = {
            "epochs": tr.epochs,
            "best_epoch": tr.best_epoch,
            "best_val": tr.best_val,
            "seconds": tr.seconds,
            "flops": tr.flops,
            "flops_convention": "3 forward passes",
            "measured_step_flops": tr.measured_step_flops,
        }
        v.training_flops += tr.flops
    check_variant(dense_model, v, ctx.graph)
    if not pruner.structured and (outcome.graph is None or outcome.masks):
        v.warnings += _shortfall(dense_model, model, sparsity)
    v.warnings += _ignores_edges(dense_model, v)
    return v


def _ignores_edges(dense_model: torch.nn.Module, v: Variant) -> list[str]:
    """A variant whose output does not change when the edges are removed, while the dense model's does, is
    reported (not refused: pruning every weight of a layer can do that legitimately)."""
    import torch

    from gnneval.model.forward import inference_form, model_inputs, without_edges

    def edge_effect(model: torch.nn.Module, graph: GraphData) -> float:
        inputs = list(model_inputs(graph, _device(model)))
        with torch.no_grad(), inference_form(model, graph):
            with_edges = model.eval()(*inputs)
            inputs[1] = without_edges(inputs[1])
            without = model(*inputs)
        return float((with_edges - without).abs().max())

    graph = check_graph(v.graph)
    try:
        if edge_effect(v.model, graph) == 0.0 and _dense_fact(dense_model, graph, "edge effect", edge_effect) > 0.0:
            return ["the pruned model's output does not depend on the graph's edges (the dense model's does)"]
    except RuntimeError:  # a model that cannot run without edges plainly uses them
        return []
    return []


def _enforce_masks(model: torch.nn.Module, masks: dict[str, torch.Tensor]) -> None:
    import torch

    if not masks:
        return
    params = dict(model.named_parameters())
    unknown = sorted(set(masks) - set(params))
    if unknown:
        raise PluginError(f"masks name parameters the model does not have: {', '.join(unknown[:5])}")
    with torch.no_grad():
        for name, mask in masks.items():
            p = params[name]
            if tuple(mask.shape) != tuple(p.shape):
                raise PluginError(f"the mask of '{name}' has shape {tuple(mask.shape)}, the weight {tuple(p.shape)}")
            p.mul_(mask.to(p.device, p.dtype))


_DENSE_FACTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
CHECK_WHOLE_NODES = 100_000
"""Graphs up to this many nodes are checked whole; a larger one on its first :data:`CHECK_NODES` nodes' subgraph
(a whole pass each at ogbn-products' size is ~10 s, and the checks are about the model, not the graph)."""
CHECK_NODES = 4096


def check_graph(graph: GraphData) -> GraphData:
    """Where a check of the model's behaviour runs: ``graph``, or above :data:`CHECK_WHOLE_NODES` nodes its
    first :data:`CHECK_NODES` nodes' subgraph (link prediction: always the graph, whose split the model reads)."""
    from gnneval.model.forward import head_subgraph

    if int(graph.data.num_nodes) <= CHECK_WHOLE_NODES or graph.task == "link-prediction":
        return graph
    return head_subgraph(graph, CHECK_NODES)


def _dense_fact(dense_model: torch.nn.Module, graph: GraphData, what: str, compute: Any) -> Any:
    """``compute(dense_model, graph)``, once per dense model, graph edges and ``what``: the dense model's side of
    every variant's checks is the same (a full pass each, on a large graph)."""
    facts = _DENSE_FACTS.setdefault(dense_model, {})
    key = (what, id(graph.data.edge_index))
    hit = facts.get(key)
    if hit is None or hit[0] is not graph.data.edge_index:
        hit = (graph.data.edge_index, compute(dense_model, graph))
        facts[key] = hit
    return hit[1]


def check_variant(dense_model: torch.nn.Module, v: Variant, dense_graph: GraphData) -> None:
    """A variant must have finite weights and give outputs of the dense model's shape on its graph."""
    import torch

    from gnneval.model.forward import forward_pass

    bad = [n for n, p in v.model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise PluginError(f"the pruned model has non-finite weights in {', '.join(bad[:5])}")

    def output_shape(model: torch.nn.Module, graph: GraphData) -> tuple:
        with torch.no_grad():
            return tuple(forward_pass(model.eval(), graph, _device(model)).shape)

    want = _dense_fact(dense_model, check_graph(dense_graph), "output shape", output_shape)
    got = output_shape(v.model, check_graph(v.graph))
    if got != want:
        raise PluginError(f"the pruned model's output has shape {got}, the dense model's {want}")
    _check_family(dense_model, v.model)


def _check_family(dense_model: torch.nn.Module, model: torch.nn.Module) -> None:
    """The variant keeps the dense model's kinds of message-passing layer, in order: a pruner may shrink or
    zero layers, not swap the architecture (or drop message passing, which would ignore the edges)."""
    from gnneval.model.forward import message_passing_layers

    def kinds(m: torch.nn.Module) -> list[str]:
        return [type(layer).__name__ for _name, layer in message_passing_layers(m)]

    before, after = kinds(dense_model), kinds(model)
    if before != after:
        raise PluginError(
            f"the pruned model's message-passing layers are {after or 'none'}, the dense model's "
            f"{before}: a pruner may shrink layers, not replace the architecture"
        )


def _device(model: torch.nn.Module) -> str:
    p = next(iter(model.parameters()), None)
    return str(p.device) if p is not None else "cpu"


def _shortfall(dense_model: torch.nn.Module, model: torch.nn.Module, sparsity: float) -> list[str]:
    """The sparsity reached, counted from the zeros of the prunable weights, against the one asked for."""
    from gnneval.model.counting import prunable_weights

    total = sum(p.numel() for _, p in prunable_weights(dense_model))
    nonzero = sum(int((p != 0).sum()) for _, p in prunable_weights(model))
    reached = 1.0 - nonzero / total if total else 0.0
    if reached + SPARSITY_SLACK < sparsity:
        return [f"asked for sparsity {sparsity:.2f} but the pruned weights are {reached:.3f} zero"]
    return []
