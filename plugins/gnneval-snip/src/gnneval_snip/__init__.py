"""gnneval plugin: SNIP, single-shot pruning by connection sensitivity (Lee, Ajanthan & Torr, ICLR 2019).

- ``snip`` follows the paper: the architecture is re-initialised with the run's seed (a fresh network,
  which is what SNIP scores), the connection sensitivity ``|dL/dw * w|`` is computed from one minibatch of
  the training loss at that initialisation, the top ``(1 - s)`` share of all prunable weights (ranked
  globally, normalised as in the paper, which leaves the ranking unchanged) is kept, and the sparse
  network is then trained with its mask fixed (gnneval's ``train``: Adam, early stopping).  It is a
  training pruner, like ``lottery`` and ``sparse-training``: its training FLOPs are counted.
- ``grad-magnitude`` is what this plugin called SNIP before: ``|g * w|`` on the *trained* checkpoint,
  with no training afterwards.  It is a useful one-shot saliency baseline, under its honest name.
"""

from __future__ import annotations

from gnneval.plugin import PruneContext, PruneOutcome, Pruner, hookimpl
from gnneval.plugin.helpers import prunable_weights, prune_by_scores

__version__ = "0.2.0"


def saliency(model, ctx: PruneContext, batch_share: float = 1.0):
    """``{name: |dL/dw * w|}`` for every prunable weight, from the task loss of ``model`` on a seeded
    ``batch_share`` of the training nodes (all of them by default: one full-graph minibatch)."""
    import torch
    import torch.nn.functional as F

    from gnneval.plugin.helpers import model_inputs, task_loss

    weights = prunable_weights(model)
    model.eval()  # deterministic: no dropout in the saliency pass
    graph = ctx.graph
    with torch.enable_grad():
        if graph.task == "link-prediction" or batch_share >= 1.0:
            loss = task_loss(model, graph)
        else:
            pool = torch.nonzero(graph.data.train_mask).flatten()
            pick = pool[
                torch.randperm(pool.numel(), generator=ctx.generator(salt=13))[
                    : max(1, int(batch_share * pool.numel()))
                ]
            ]
            loss = F.cross_entropy(model(*model_inputs(graph))[pick], graph.data.y[pick])
        grads = torch.autograd.grad(loss, [p for _, p in weights])
    return {name: (g * p).detach().abs() for (name, p), g in zip(weights, grads)}, float(loss.detach())


class SnipPruner(Pruner):
    """SNIP as published: score at a seeded initialisation, prune once, train the sparse network.

    Args:
        epochs: training epochs after pruning.
        patience: early-stopping patience, in epochs.
        batch_share: share of the training nodes in the scoring minibatch.
    """

    structured = False

    def __init__(self, *, epochs: int = 200, patience: int = 50, batch_share: float = 1.0) -> None:
        super().__init__()
        self.epochs, self.patience, self.batch_share = int(epochs), int(patience), float(batch_share)

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        from gnneval.plugin.helpers import reinitialise, train

        reinitialise(model, ctx.seed)
        scores, loss = saliency(model, ctx, self.batch_share)
        masks = prune_by_scores(model, sparsity, "global", lambda name, _p: scores[name], "snip")
        result = train(model, ctx.graph, epochs=self.epochs, patience=self.patience, masks=masks, seed=ctx.seed)
        return PruneOutcome(
            model=model,
            masks=masks,
            training_flops=result.flops,
            details={
                "criterion": "connection sensitivity |g*w| at initialisation",
                "scope": "global",
                "init_loss": loss,
                "epochs": result.epochs,
                "best_val": result.best_val,
            },
        )


class GradMagnitudePruner(Pruner):
    """``|g * w|`` of the trained model's training loss, ranked globally; one shot, no training."""

    structured = False

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        scores, loss = saliency(model, ctx)
        masks = prune_by_scores(model, sparsity, "global", lambda name, _p: scores[name], "grad-magnitude")
        return PruneOutcome(
            model=model,
            masks=masks,
            details={"criterion": "|g*w| of the trained model", "scope": "global", "loss": loss},
        )


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner(
        "snip", SnipPruner, description="SNIP (Lee et al. 2019): |g*w| at initialisation, prune, train the sparse net"
    )
    register.add_pruner(
        "grad-magnitude",
        GradMagnitudePruner,
        description="one-shot |g*w| on the trained model, no training (a saliency baseline)",
    )
