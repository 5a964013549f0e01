"""The ``structured`` and ``hybrid`` pruners: channel surgery (:class:`gnneval.plugin.ChannelPruner`)
with a choice of channel criterion, and channels-then-weights.

``hybrid`` removes hidden channels with the ``structured`` criterion at ``channel_share * sparsity``
(default half the target), then zeroes the smallest remaining weights (global magnitude) so that the
share of the dense model's prunable weights that are removed or zero is ``sparsity``.
"""

from __future__ import annotations

from typing import Any

from gnneval.plugin import (
    ChannelGroup,
    ChannelPruner,
    PruneContext,
    PruneOutcome,
    Pruner,
    UnsupportedModelError,
    UsageError,
    hookimpl,
    prunable_weights,
    prune_by_scores,
)

CRITERIA = ("l1", "l2", "random", "taylor", "bn")


class StructuredPruner(ChannelPruner):
    """Channels ranked by ``criterion``:

    - ``l1`` (default) / ``l2``: the norm of the weights that produce the channel;
    - ``random``: seeded random ranks (the structured baseline);
    - ``taylor``: first-order Taylor importance of removing the channel (Molchanov et al. 2019, their gate on
      the feature map): ``(sum over the weights that read the channel of w * dL/dw)^2`` — for a linear
      consumer this equals ``(sum over nodes of a * dL/da)^2`` for the channel's activations ``a`` —
      accumulated over ``batches`` (8) minibatches, each a seeded half of the validation nodes (graphs),
      with the model in evaluation mode.  Deviation, named: the paper
      accumulates over training minibatches while it fine-tunes; on a converged GNN the training loss is
      near zero (100% train accuracy on Cora) and its one full-batch gradient ranks channels worse than
      chance, so the held-out validation split carries the signal;
    - ``bn``: ``|gamma|`` of the BatchNorm that follows the producer (network slimming, Liu et al. 2017);
      a channel group without a BatchNorm is refused naming the layer.
    """

    options_doc = {"criterion": "l1 (default), l2, random, taylor or bn: how channels are ranked",
                   "gat": "channels (default): remove the same channels from every head; heads: whole heads",
                   "batches": "taylor: minibatches the importance is accumulated over (default 8)"}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.criterion = options.get("criterion", "l1")
        if self.criterion not in CRITERIA:
            raise UsageError(f"structured pruner: unknown criterion '{self.criterion}'; use one of "
                             f"{', '.join(CRITERIA)}")

    def prepare(self, model, groups, ctx: PruneContext) -> None:
        """Taylor: accumulate each channel's importance over minibatches, as Molchanov et al. (2019) do."""
        if self.criterion == "taylor":
            self._taylor = taylor_importance(model, groups, ctx, int(self.options.get("batches", TAYLOR_BATCHES)))

    def score_channels(self, group: ChannelGroup, index: int, ctx: PruneContext):
        import torch

        total = torch.zeros(group.channels, dtype=torch.float64)
        if self.criterion == "random":
            return torch.rand(group.channels, generator=ctx.generator(salt=index), dtype=torch.float64)
        if self.criterion == "bn":
            if not group.norms:
                raise UnsupportedModelError(
                    f"structured pruning with criterion 'bn' needs a BatchNorm after layer '{group.producer.name}', "
                    "which has none; use criterion l1, l2, random or taylor")
            gamma = next(s for s in group.norms[0].out_slots if s.attr == "weight")
            g = getattr(gamma.owner, gamma.attr).detach().double().abs()
            out_map = group.producer.out_map
            if out_map is None:
                return g
            return total.index_add_(0, out_map, g)  # GAT: sum over the heads of a channel
        if self.criterion == "taylor":
            return self._taylor[index]
        for w in group.weight_rows():
            total += w.abs().sum(1) if self.criterion == "l1" else w.pow(2).sum(1)
        return total.sqrt() if self.criterion == "l2" else total


class HybridPruner(Pruner):
    options_doc = {"channel_share": "share of the target reached by removing channels (default 0.5)",
                   "criterion": "channel criterion, as for structured (default l1)",
                   "gat": "as for structured"}
    structured = False

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        share = float(self.options.get("channel_share", 0.5))
        if not 0.0 <= share <= 1.0:
            raise UsageError("hybrid pruner: channel_share must be in [0, 1]")
        dense_weights = sum(p.numel() for _, p in prunable_weights(model))
        structured = StructuredPruner(criterion=self.options.get("criterion", "l1"))
        structured.name = "structured"
        first = structured.prune(model, share * sparsity, ctx)
        model = first.model
        remaining = sum(p.numel() for _, p in prunable_weights(model))
        k = int(round(sparsity * dense_weights)) - (dense_weights - remaining)
        second_sparsity = min(max(k / remaining, 0.0), 1.0) if remaining else 0.0
        masks = prune_by_scores(model, second_sparsity, "global", lambda _n, p: p.detach().abs(), "hybrid")
        details = {"channels": first.details.get("channels"), "channel_sparsity": share * sparsity,
                   "weight_sparsity_after_channels": second_sparsity}
        return PruneOutcome(model=model, masks=masks, details=details)


TAYLOR_BATCHES = 8


def taylor_importance(model, groups, ctx: PruneContext, batches: int) -> list:
    """Per group, each channel's ``mean over minibatches of (sum of w * dL/dw over its producing weights)^2``."""
    import torch
    import torch.nn.functional as F

    from gnneval.plugin import model_inputs, task_loss

    graph = ctx.graph
    pool = torch.nonzero(graph.data.val_mask).flatten() if graph.task != "link-prediction" else None
    g = ctx.generator(salt=97)
    acc = [torch.zeros(group.channels, dtype=torch.float64) for group in groups]
    model.eval()
    for _ in range(max(1, batches)):
        model.zero_grad(set_to_none=True)
        if pool is None:
            loss = task_loss(model, graph)
        else:
            pick = pool[torch.randperm(pool.numel(), generator=g)[: max(1, pool.numel() // 2)]]
            loss = F.cross_entropy(model(*model_inputs(graph))[pick], graph.data.y[pick])
        loss.backward()
        for gi, group in enumerate(groups):
            total = torch.zeros(group.channels, dtype=torch.float64)
            for w, gr in zip(group.weight_cols(False), group.weight_cols(True)):
                total += (w * gr).sum(1)
            acc[gi] += total.pow(2)
    model.zero_grad(set_to_none=True)
    return [a / max(1, batches) for a in acc]


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner("structured", StructuredPruner,
                        description="removes whole hidden channels (L1 norm) and shrinks the layers")
    register.add_pruner("hybrid", HybridPruner,
                        description="structured channels first, then unstructured magnitude on what is left")
