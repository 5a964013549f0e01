"""gnneval plugin: SNIP, single-shot pruning by connection sensitivity (Lee et al. 2019)."""

from __future__ import annotations

from gnneval.plugin import PruneContext, PruneOutcome, Pruner, hookimpl

__version__ = "0.1.0"


class SnipPruner(Pruner):
    """Zero the weights whose removal changes the training loss least, ``|g * w|`` ranked globally."""

    structured = False

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import torch
        import torch.nn.functional as F

        from gnneval.plugin import prunable_weights

        d = ctx.graph.data
        weights = prunable_weights(model)
        model.train(False)  # deterministic: no dropout in the saliency pass
        model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            for _, p in weights:
                p.requires_grad_(True)
            out = model(d.x, d.edge_index)
            loss = F.cross_entropy(out[d.train_mask], d.y[d.train_mask])
            grads = torch.autograd.grad(loss, [p for _, p in weights])
        scores = torch.cat([(g * p).detach().abs().flatten() for (_, p), g in zip(weights, grads)])
        k = int(round(sparsity * scores.numel()))
        keep = torch.ones_like(scores, dtype=torch.bool)
        if k:
            keep[torch.argsort(scores, stable=True)[:k]] = False
        masks, offset = {}, 0
        with torch.no_grad():
            for name, p in weights:
                masks[name] = keep[offset:offset + p.numel()].view_as(p).clone()
                p.mul_(masks[name])
                offset += p.numel()
        return PruneOutcome(model=model, masks=masks, details={"criterion": "snip |g*w|", "scope": "global",
                                                               "loss": float(loss.detach())})


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner("snip", SnipPruner, description="SNIP connection sensitivity |g*w| (Lee et al. 2019)")
