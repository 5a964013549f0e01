"""Pruners that train the network: ``lottery`` (iterative magnitude pruning with rewinding) and
``train-and-prune``.

- ``train-and-prune``: seeded re-initialisation, dense training (``l1`` adds an L1 penalty on the
  weights), global magnitude pruning to the target, masked retraining.
- ``lottery``: iterative magnitude pruning with weight rewinding (Frankle & Carbin 2019).  The
  architecture is re-initialised with the run's seed (theta_0; a third-party checkpoint does not keep
  its own initial weights) and trained; then, round after round, ``rate`` (20%) of the remaining
  weights with the smallest trained magnitude are pruned (globally), the survivors are rewound to
  theta_0 (or, with ``rewind_epoch=k``, to their values after exactly k epochs of that first training,
  kept while it ran — Frankle et al. 2020's rewinding, with no extra training) and
  retrained with the mask fixed, until the target sparsity is reached exactly (the last round prunes
  just what is left to prune).  Training: Adam, early stopping on the validation split (``epochs``,
  default 200, ``patience`` 50).
"""

from __future__ import annotations

from gnneval.plugin import (
    PruneContext,
    PruneOutcome,
    Pruner,
    UsageError,
    hookimpl,
    prunable_weights,
    prune_by_scores,
    reinitialise,
)


class LotteryPruner(Pruner):
    options_doc = {"rate": "share of the remaining weights pruned per round (default 0.2)",
                   "epochs": "training epochs per round (default 200)", "patience": "early-stopping patience (50)",
                   "rewind_epoch": "rewind to the weights after this many epochs (default 0: initialisation)"}
    structured = False

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import copy

        import torch

        from gnneval.plugin import apply_masks, train

        rate = float(self.options.get("rate", 0.2))
        epochs = int(self.options.get("epochs", 200))
        patience = int(self.options.get("patience", 50))
        rewind_epoch = int(self.options.get("rewind_epoch", 0))
        if not 0.0 < rate < 1.0:
            raise UsageError("lottery pruner: rate must be in (0, 1)")
        reinitialise(model, ctx.seed)
        weights = prunable_weights(model)
        flops = 0.0
        snapshot = {0: copy.deepcopy(model.state_dict())}

        def keep(epoch: int, m) -> None:  # the weights after exactly epoch k of the first training
            if epoch == rewind_epoch:
                snapshot[epoch] = copy.deepcopy(m.state_dict())

        masks = {n: torch.ones_like(p, dtype=torch.bool) for n, p in weights}
        total = sum(p.numel() for _, p in weights)
        target = int(round(sparsity * total))
        rounds = []
        result = train(model, ctx.graph, epochs=epochs, patience=patience, seed=ctx.seed, on_epoch=keep)
        flops += result.flops
        if rewind_epoch not in snapshot:
            raise UsageError(f"lottery pruner: rewind_epoch={rewind_epoch} but the first training stopped early "
                             f"after {result.epochs} epochs; use a smaller rewind_epoch or a larger patience")
        theta0 = snapshot[rewind_epoch]
        rounds.append({"sparsity": 0.0, "best_val": result.best_val, "epochs": result.epochs})
        pruned = 0
        while pruned < target:
            remaining = total - pruned
            step = min(max(1, int(round(rate * remaining))), target - pruned)
            # Already-pruned weights (score -1) rank first, then the smallest trained magnitudes.
            masks = prune_by_scores(model, (pruned + step) / total, "global",
                                    lambda n, p, kept=masks: torch.where(kept[n], p.detach().abs(), torch.tensor(-1.0)),
                                    "lottery")
            pruned += step
            model.load_state_dict(theta0)  # rewind
            apply_masks(model, masks)
            result = train(model, ctx.graph, epochs=epochs, patience=patience, masks=masks, seed=ctx.seed)
            flops += result.flops
            rounds.append({"sparsity": pruned / total, "best_val": result.best_val, "epochs": result.epochs})
        return PruneOutcome(model=model, masks=masks, details={
            "rounds": len(rounds) - 1, "rate": rate, "rewind": f"epoch {rewind_epoch}" if rewind_epoch else "theta_0",
            "history": rounds}, training_flops=flops)


class TrainAndPrunePruner(Pruner):
    """Dense training from a seeded initialisation (optionally with an L1 penalty, ``l1``), global
    magnitude pruning to the target, then masked retraining: the train-and-prune baseline."""

    options_doc = {"epochs": "training epochs, dense and retraining (default 200)",
                   "patience": "early-stopping patience (default 50)", "l1": "L1 penalty during dense training (0)"}

    structured = False

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        from gnneval.plugin import train

        epochs = int(self.options.get("epochs", 200))
        patience = int(self.options.get("patience", 50))
        l1 = float(self.options.get("l1", 0.0))
        reinitialise(model, ctx.seed)
        dense = train(model, ctx.graph, epochs=epochs, patience=patience, seed=ctx.seed, l1=l1)
        masks = prune_by_scores(model, sparsity, "global", lambda _n, p: p.detach().abs(), "train-and-prune")
        retrained = train(model, ctx.graph, epochs=epochs, patience=patience, masks=masks, seed=ctx.seed)
        return PruneOutcome(model=model, masks=masks, details={
            "l1": l1, "dense_best_val": dense.best_val, "dense_epochs": dense.epochs,
            "retrain_best_val": retrained.best_val, "retrain_epochs": retrained.epochs},
            training_flops=dense.flops + retrained.flops)


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner("train-and-prune", TrainAndPrunePruner,
                        description="dense training (optional L1 penalty), magnitude pruning, masked retraining")
    register.add_pruner("lottery", LotteryPruner,
                        description="iterative magnitude pruning with rewinding (Frankle & Carbin 2019), retrains")
