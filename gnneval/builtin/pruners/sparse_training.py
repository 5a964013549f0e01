"""``sparse-training``: train from scratch at a fixed sparsity, with periodic drop-and-grow.

The model is re-initialised with the run's seed (a sparse-from-scratch method never sees the
checkpoint's trained weights; the checkpoint supplies the architecture) and given a random mask at
exactly the target sparsity, spread over the weight matrices by Erdős–Rényi-Kernel (``distribution=erk``,
the default, as in RigL: density proportional to (fan-in + fan-out) / (fan-in x fan-out), so a small
output layer stays denser) or the same share in every matrix (``uniform``).  It is then trained with
the mask, and every ``update_every`` steps (ΔT, default 10) until ``end`` (default 0.75) of the epochs, a
fraction of each layer's active weights -- ``fraction`` (α, default 0.3) decayed by a cosine to zero at
``end`` -- is dropped (smallest |w|) and as many inactive weights are grown:

- ``method=rigl`` (default; Evci et al., ICML 2020): grow where the *dense* gradient is largest;
- ``method=set`` (Mocanu et al., 2018): grow at random (seeded).

Grown weights start at zero and their optimiser moments are reset.  Each layer keeps its number of
active weights, so the sparsity is exact throughout.  Training: Adam, early stopping on the validation
split (``epochs`` 200, ``patience`` 100); the best state and *its* mask are kept.

Training FLOPs (``PruneOutcome.training_flops``): 3 sparse forward passes per step; an update step of
RigL pays for the dense weight gradient (a dense pass instead of a sparse one) and both methods pay
``n log2 n`` per ranked weight matrix.
"""

from __future__ import annotations

import math

from gnneval.plugin import PruneContext, PruneOutcome, Pruner, UsageError, hookimpl
from gnneval.plugin.helpers import prunable_weights


def layer_densities(shapes: dict[str, tuple[int, ...]], sparsity: float, distribution: str) -> dict[str, int]:
    """Active weights per layer so that exactly ``round((1 - sparsity) * total)`` are active."""
    total = sum(math.prod(s) for s in shapes.values())
    keep = int(round((1.0 - sparsity) * total))
    if distribution == "uniform":
        counts = {n: int(round((1.0 - sparsity) * math.prod(s))) for n, s in shapes.items()}
    elif distribution == "erk":
        # density_l = eps * (sum of dims) / (product of dims), layers that would exceed 1 are kept dense
        dense: set[str] = set()
        while True:
            budget = keep - sum(math.prod(shapes[n]) for n in dense)
            raw = {n: sum(s) / math.prod(s) for n, s in shapes.items() if n not in dense}
            eps = budget / sum(raw[n] * math.prod(shapes[n]) for n in raw) if raw else 0.0
            over = [n for n in raw if eps * raw[n] > 1.0]
            if not over:
                break
            dense.update(over)
        counts = {n: math.prod(s) if n in dense else int(round(eps * raw[n] * math.prod(s))) for n, s in shapes.items()}
    else:
        raise UsageError(f"sparse-training: unknown distribution '{distribution}'; use uniform or erk")
    # rounding: move the difference to the largest layer so the total is exact
    diff = keep - sum(counts.values())
    largest = max(shapes, key=lambda n: math.prod(shapes[n]))
    counts[largest] = min(max(counts[largest] + diff, 0), math.prod(shapes[largest]))
    return counts


class SparseTrainingPruner(Pruner):
    """Sparse training from scratch with periodic drop-and-grow: RigL (Evci et al. 2020) or SET (Mocanu et al.
    2018), at exactly the target sparsity throughout (see the module's docstring).

    Args:
        method: ``rigl`` (grow where the dense gradient is largest) or ``set`` (grow at random).
        epochs: training epochs.
        patience: early-stopping patience, in epochs.
        update_every: epochs between mask updates (ΔT).
        fraction: share of active weights dropped and regrown per update (α), cosine-decayed to 0 at ``end``.
        end: share of training after which the mask is fixed, in (0, 1].
        distribution: layer densities: ``erk`` (Erdős–Rényi-Kernel) or ``uniform``.
    """

    structured = False

    def __init__(
        self,
        *,
        method: str = "rigl",
        epochs: int = 200,
        patience: int = 100,
        update_every: int = 10,
        fraction: float = 0.3,
        end: float = 0.75,
        distribution: str = "erk",
    ) -> None:
        super().__init__()
        self.method = str(method).lower()
        if self.method not in ("rigl", "set"):
            raise UsageError(f"sparse-training: unknown method '{method}'; use rigl or set")
        if int(update_every) < 1 or not 0.0 <= float(fraction) <= 1.0 or not 0.0 < float(end) <= 1.0:
            raise UsageError("sparse-training: update_every must be >= 1, fraction in [0, 1] and end in (0, 1]")
        self.epochs, self.patience, self.update_every = int(epochs), int(patience), int(update_every)
        self.fraction, self.end, self.distribution = float(fraction), float(end), str(distribution)

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import torch

        from gnneval.plugin.helpers import apply_masks, reinitialise, step_flops, train

        method, epochs, patience, every = self.method, self.epochs, self.patience, self.update_every
        alpha, end, distribution = self.fraction, self.end, self.distribution
        reinitialise(model, ctx.seed)
        weights = dict(prunable_weights(model))
        counts = layer_densities({n: tuple(p.shape) for n, p in weights.items()}, sparsity, distribution)
        gen = ctx.generator(salt=17)
        masks = {}
        for name, p in weights.items():
            mask = torch.zeros(p.numel(), dtype=torch.bool)
            mask[torch.randperm(p.numel(), generator=gen)[: counts[name]]] = True
            masks[name] = mask.view_as(p)
        apply_masks(model, masks)
        dense_f, sparse_f = step_flops(model, ctx.graph, masked=True)
        end_epoch = max(1, int(end * epochs))
        updates = []

        def on_backward(epoch, model, opt, masks) -> float:
            if epoch % every or epoch >= end_epoch:
                return 0.0
            frac = alpha / 2 * (1 + math.cos(math.pi * epoch / end_epoch))
            cost = dense_f - sparse_f if method == "rigl" else 0.0
            moved = 0
            with torch.no_grad():
                for name, p in weights.items():
                    m = masks[name].flatten()
                    n, active = m.numel(), int(m.sum())
                    k = min(int(frac * active), n - active)
                    cost += n * math.log2(max(n, 2))
                    if k <= 0:
                        continue
                    w = p.detach().flatten().abs()
                    drop = torch.where(m, w, torch.full_like(w, float("inf"))).argsort(stable=True)[:k]
                    new = m.clone()
                    new[drop] = False
                    if method == "rigl" and p.grad is not None:
                        score = p.grad.detach().flatten().abs().clone()
                    else:
                        score = torch.rand(n, generator=gen)
                    score[new] = -float("inf")
                    grow = score.argsort(descending=True, stable=True)[:k]
                    new[grow] = True
                    p.view(-1)[grow] = 0.0  # grown weights start at zero
                    state = opt.state.get(p, {})
                    for key in ("exp_avg", "exp_avg_sq"):
                        if key in state:
                            state[key].view(-1)[grow] = 0.0
                    moved += int((new & ~m).sum())
                    masks[name].copy_(new.view_as(masks[name]))
            updates.append({"epoch": epoch, "fraction": frac, "moved": moved})
            return cost

        result = train(
            model, ctx.graph, epochs=epochs, patience=patience, masks=masks, seed=ctx.seed, on_backward=on_backward
        )
        masks = result.masks or masks
        apply_masks(model, masks)
        return PruneOutcome(
            model=model,
            masks=masks,
            training_flops=result.flops,
            details={
                "method": method,
                "distribution": distribution,
                "update_every": every,
                "fraction": alpha,
                "end": end,
                "updates": len(updates),
                "moved": sum(u["moved"] for u in updates),
                "epochs": result.epochs,
                "best_epoch": result.best_epoch,
                "best_val": result.best_val,
                "active_per_layer": {n: int(m.sum()) for n, m in masks.items()},
            },
        )


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner(
        "sparse-training",
        SparseTrainingPruner,
        description="train from scratch at the target sparsity with drop-and-grow (RigL, or SET)",
    )
