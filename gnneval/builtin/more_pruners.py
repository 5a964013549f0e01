"""More one-shot pruners: the ``random`` unstructured baseline and ``hybrid`` (channels, then weights).

- ``random``: zeroes a seeded random ``sparsity`` share of the prunable weights (``scope`` ``layer``,
  the default, or ``global``), exactly ``round(sparsity * n)``.
- ``hybrid``: removes hidden channels with the ``structured`` pruner at ``channel_share * sparsity``
  (default half the target), then zeroes the smallest remaining weights (global magnitude) so that
  the share of the dense model's prunable weights that are removed or zero is ``sparsity``.
"""

from __future__ import annotations

from gnneval.accounting import prunable_weights
from gnneval.builtin.magnitude import MagnitudePruner, smallest_k_mask
from gnneval.builtin.structured import StructuredPruner
from gnneval.errors import UsageError
from gnneval.plugin import PruneContext, PruneOutcome, Pruner, hookimpl


class RandomPruner(Pruner):
    structured = False

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import torch

        scope = self.options.get("scope", "layer")
        if scope not in ("layer", "global"):
            raise UsageError(f"random pruner: unknown scope '{scope}'; use 'layer' or 'global'")
        weights = prunable_weights(model)
        g = ctx.generator()
        masks = {}
        with torch.no_grad():
            if scope == "global":
                scores = torch.rand(sum(p.numel() for _, p in weights), generator=g)
                keep = smallest_k_mask(scores, int(round(sparsity * scores.numel())))
                offset = 0
                for name, p in weights:
                    masks[name] = keep[offset:offset + p.numel()].view_as(p).clone()
                    offset += p.numel()
            else:
                for name, p in weights:
                    masks[name] = smallest_k_mask(torch.rand(p.shape, generator=g), int(round(sparsity * p.numel())))
            for name, p in weights:
                p.mul_(masks[name])
        return PruneOutcome(model=model, masks=masks, details={"scope": scope, "criterion": "random"})


class HybridPruner(Pruner):
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
        second = MagnitudePruner(scope="global").prune(model, second_sparsity, ctx)
        details = {"channels": first.details.get("channels"), "channel_sparsity": share * sparsity,
                   "weight_sparsity_after_channels": second_sparsity}
        return PruneOutcome(model=second.model, masks=second.masks, details=details)


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner("random", RandomPruner, description="unstructured baseline: zero random weights (seeded)")
    register.add_pruner("hybrid", HybridPruner,
                        description="structured channels first, then unstructured magnitude on what is left")
