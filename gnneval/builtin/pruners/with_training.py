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

from gnneval.plugin import PruneContext, PruneOutcome, Pruner, UsageError, hookimpl
from gnneval.plugin.helpers import prunable_weights, prune_by_scores, reinitialise


class LotteryPruner(Pruner):
    """Iterative magnitude pruning with rewinding: the lottery ticket of Frankle & Carbin (2019), with late
    rewinding (Frankle et al. 2020) — train, prune ``rate`` of the remaining weights, rewind, repeat.

    Args:
        rate: share of the remaining weights pruned per round, in (0, 1).
        epochs: training epochs per round.
        patience: early-stopping patience, in epochs.
        rewind_epoch: rewind to the weights after this many epochs (0: the initialisation).
    """

    structured = False

    def __init__(self, *, rate: float = 0.2, epochs: int = 200, patience: int = 50, rewind_epoch: int = 0) -> None:
        super().__init__()
        if not 0.0 < float(rate) < 1.0:
            raise UsageError("lottery pruner: rate must be in (0, 1)")
        self.rate, self.epochs, self.patience, self.rewind_epoch = (
            float(rate),
            int(epochs),
            int(patience),
            int(rewind_epoch),
        )

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import copy

        import torch

        from gnneval.plugin.helpers import apply_masks, train

        rate, epochs, patience, rewind_epoch = self.rate, self.epochs, self.patience, self.rewind_epoch
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
            raise UsageError(
                f"lottery pruner: rewind_epoch={rewind_epoch} but the first training stopped early "
                f"after {result.epochs} epochs; use a smaller rewind_epoch or a larger patience"
            )
        theta0 = snapshot[rewind_epoch]
        rounds.append({"sparsity": 0.0, "best_val": result.best_val, "epochs": result.epochs})
        pruned = 0
        while pruned < target:
            remaining = total - pruned
            step = min(max(1, int(round(rate * remaining))), target - pruned)
            # Already-pruned weights (score -1) rank first, then the smallest trained magnitudes.
            masks = prune_by_scores(
                model,
                (pruned + step) / total,
                "global",
                lambda n, p, kept=masks: torch.where(kept[n], p.detach().abs(), torch.tensor(-1.0)),
                "lottery",
            )
            pruned += step
            model.load_state_dict(theta0)  # rewind
            apply_masks(model, masks)
            result = train(model, ctx.graph, epochs=epochs, patience=patience, masks=masks, seed=ctx.seed)
            flops += result.flops
            rounds.append({"sparsity": pruned / total, "best_val": result.best_val, "epochs": result.epochs})
        return PruneOutcome(
            model=model,
            masks=masks,
            details={
                "rounds": len(rounds) - 1,
                "rate": rate,
                "rewind": f"epoch {rewind_epoch}" if rewind_epoch else "theta_0",
                "history": rounds,
            },
            training_flops=flops,
        )


class TrainAndPrunePruner(Pruner):
    """Train, prune to the target, retrain with the mask fixed — three ways of training towards sparsity:

    - ``method=l1`` (default): dense training with an L1 penalty ``l1`` on the weights (0: plain training);
    - ``method=admm``: ADMM (Zhang et al. 2018): auxiliary sparse variables Z (the top-k projection of
      W + U), dual variables U, and the proximal term ``rho/2 ||W - Z + U||^2``; ``rounds`` alternations of
      ``round_epochs`` epochs of W-training, the Z-projection and the dual step ``U += W - Z``;
    - ``method=slr``: surrogate Lagrangian relaxation (Gurevin et al. 2021; the train-and-prune of Peng et
      al. 2022): the same alternation, with the dual step ``U += s_k (W - Z)`` whose step size follows SLR's
      rule ``s_k = alpha_k s_{k-1} ||W_{k-1} - Z_{k-1}|| / ||W_k - Z_k||``,
      ``alpha_k = 1 - 1 / (M k^(1 - 1/k^r))`` (defaults from the SLR paper: ``rho`` 0.1, ``s0`` 1e-2,
      ``M`` 300, ``r`` 0.1), accepted only when the surrogate optimality condition holds (the constraint
      violation decreased), otherwise the multipliers are kept.

    Then global magnitude pruning to exactly the target (the Z-projection for admm/slr) and masked
    retraining.  Deviation, named: W-training is gnneval's (Adam, early stopping) for ``round_epochs``
    per round rather than a fixed SGD schedule.

    Args:
        method: ``l1``, ``admm`` or ``slr``.
        epochs: epochs of dense training and of retraining.
        patience: early-stopping patience, in epochs.
        l1: ``method=l1``: the L1 penalty on the weights (0: plain training).
        rounds: ``admm``/``slr``: alternations.
        round_epochs: ``admm``/``slr``: epochs of W-training in each alternation.
        rho: ``admm``/``slr``: weight of the proximal penalty.
        s0: ``slr``: initial step size.
        M: ``slr``: step-size parameter M.
        r: ``slr``: step-size parameter r.
    """

    structured = False

    def __init__(
        self,
        *,
        method: str = "l1",
        epochs: int = 200,
        patience: int = 50,
        l1: float = 0.0,
        rounds: int = 10,
        round_epochs: int = 20,
        rho: float = 0.1,
        s0: float = 1e-2,
        M: float = 300.0,
        r: float = 0.1,
    ) -> None:
        super().__init__()
        self.method = str(method).lower()
        if self.method not in ("l1", "admm", "slr"):
            raise UsageError(f"train-and-prune: unknown method '{method}'; use l1, admm or slr")
        self.epochs, self.patience, self.l1 = int(epochs), int(patience), float(l1)
        self.rounds, self.round_epochs, self.rho = int(rounds), int(round_epochs), float(rho)
        self.s0, self.M, self.r = float(s0), float(M), float(r)

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        from gnneval.plugin.helpers import train

        method, epochs, patience = self.method, self.epochs, self.patience
        reinitialise(model, ctx.seed)
        if method == "l1":
            l1 = self.l1
            first = train(model, ctx.graph, epochs=epochs, patience=patience, seed=ctx.seed, l1=l1)
            flops, info = first.flops, {"l1": l1, "dense_best_val": first.best_val, "dense_epochs": first.epochs}
        else:
            flops, info = self._lagrangian(model, sparsity, ctx, method)
        masks = prune_by_scores(model, sparsity, "global", lambda _n, p: p.detach().abs(), "train-and-prune")
        retrained = train(model, ctx.graph, epochs=epochs, patience=patience, masks=masks, seed=ctx.seed)
        return PruneOutcome(
            model=model,
            masks=masks,
            training_flops=flops + retrained.flops,
            details={
                "method": method,
                **info,
                "retrain_best_val": retrained.best_val,
                "retrain_epochs": retrained.epochs,
            },
        )

    def _lagrangian(self, model, sparsity: float, ctx: PruneContext, method: str) -> tuple[float, dict]:
        """ADMM / SLR alternations; returns the FLOPs spent and what happened."""
        import torch

        from gnneval.plugin.helpers import smallest_k_mask, train

        rounds, round_epochs = self.rounds, self.round_epochs
        rho, step = self.rho, self.s0 if method == "slr" else 1.0
        big_m, r = self.M, self.r
        weights = prunable_weights(model)

        def project(values: dict) -> dict:  # Z: the top-(1 - s) entries of W + U, globally
            flat = torch.cat([values[n].flatten() for n, _ in weights])
            keep = smallest_k_mask(flat.abs(), int(round(sparsity * flat.numel())))
            out, offset = {}, 0
            for n, p in weights:
                out[n] = (flat[offset : offset + p.numel()] * keep[offset : offset + p.numel()]).view_as(p)
                offset += p.numel()
            return out

        with torch.no_grad():
            u = {n: torch.zeros_like(p) for n, p in weights}
            z = project({n: p.detach().clone() for n, p in weights})
        flops, history, previous = 0.0, [], None
        for k in range(1, rounds + 1):

            def proximal(m, z=z, u=u):
                params = dict(m.named_parameters())
                return rho / 2 * sum(((params[n] - z[n] + u[n]) ** 2).sum() for n, _ in weights)

            flops += train(
                model, ctx.graph, epochs=round_epochs, patience=round_epochs + 1, seed=ctx.seed + k, penalty=proximal
            ).flops
            with torch.no_grad():
                w = {n: p.detach().clone() for n, p in weights}
                z_new = project({n: w[n] + u[n] for n in w})
                gap = float(torch.sqrt(sum(((w[n] - z_new[n]) ** 2).sum() for n in w)))
                if method == "slr" and previous is not None and gap > 0:
                    alpha = 1 - 1 / (big_m * k ** (1 - 1 / k**r))
                    step = alpha * step * previous / gap
                accepted = method == "admm" or previous is None or gap < previous
                if accepted:
                    u = {n: u[n] + step * (w[n] - z_new[n]) for n in w}
                z, previous = z_new, gap
            history.append({"round": k, "violation": gap, "step": step, "multipliers_updated": accepted})
        return flops, {"rounds": rounds, "rho": rho, "history": history}


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner(
        "train-and-prune",
        TrainAndPrunePruner,
        description="dense training (optional L1 penalty), magnitude pruning, masked retraining",
    )
    register.add_pruner(
        "lottery",
        LotteryPruner,
        description="iterative magnitude pruning with rewinding (Frankle & Carbin 2019), retrains",
    )
