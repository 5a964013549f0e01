"""One-shot unstructured pruners: ``magnitude`` (zero the weights of smallest |w|) and ``random`` (the
seeded baseline).

``scope="layer"`` (default) prunes each weight matrix to the target sparsity; ``scope="global"`` ranks
all prunable weights together.  The number of zeroed weights is ``round(sparsity * n)`` exactly (ties
broken by position), and the masks are returned so the pipeline can keep them fixed.
"""

from __future__ import annotations

from gnneval.plugin import PruneContext, PruneOutcome, Pruner, hookimpl, prune_by_scores


class MagnitudePruner(Pruner):
    options_doc = {"scope": "layer (default): each weight matrix to the target; global: all weights ranked together"}
    structured = False

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        scope = self.options.get("scope", "layer")
        masks = prune_by_scores(model, sparsity, scope, lambda _n, p: p.detach().abs(), "magnitude")
        return PruneOutcome(model=model, masks=masks, details={"scope": scope})


class RandomPruner(Pruner):
    options_doc = {"scope": "layer (default): each weight matrix to the target; global: all weights ranked together"}
    structured = False

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import torch

        scope = self.options.get("scope", "layer")
        g = ctx.generator()
        masks = prune_by_scores(model, sparsity, scope, lambda _n, p: torch.rand(p.shape, generator=g), "random")
        return PruneOutcome(model=model, masks=masks, details={"scope": scope, "criterion": "random"})


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner("magnitude", MagnitudePruner,
                        description="unstructured: zero the smallest |w| (masks; per layer or global)")
    register.add_pruner("random", RandomPruner, description="unstructured baseline: zero random weights (seeded)")
