"""One-shot unstructured pruners: ``magnitude`` (zero the weights of smallest |w|) and ``random`` (the
seeded baseline).

``scope="layer"`` (default) prunes each weight matrix to the target sparsity; ``scope="global"`` ranks
all prunable weights together.  The number of zeroed weights is ``round(sparsity * n)`` exactly (ties
broken by position), and the masks are returned so the pipeline can keep them fixed.

``pattern="N:M"`` (magnitude only) keeps the ``N`` largest |w| in every ``M`` consecutive weights along each
row's inputs — the fine-grained structured sparsity of Mishra et al. (2021, "Accelerating Sparse Deep Neural
Networks"), whose 2:4 form NVIDIA's sparse tensor cores run (``--backends torch-sparse --sparse-kernels 2:4``).
Its sparsity is ``1 - N/M``, so only that ``--sparsity`` is accepted; a row whose length is not a multiple of
``M`` keeps ``ceil(N r / M)`` of its last ``r`` weights.
"""

from __future__ import annotations

import math

from gnneval.plugin import PruneContext, PruneOutcome, Pruner, UsageError, hookimpl
from gnneval.plugin.helpers import prunable_weights, prune_by_scores


class MagnitudePruner(Pruner):
    """Zeroes the weights of smallest magnitude (Han et al. 2015), per weight matrix or ranked globally, or
    in an N:M pattern for semi-structured sparse kernels (Mishra et al. 2021).

    Args:
        scope: ``layer``: each weight matrix to the target; ``global``: all weights ranked together.
        pattern: ``N:M`` (e.g. ``2:4``): keep the N largest of every M consecutive weights (sparsity 1 - N/M);
            None: unstructured.
    """

    structured = False

    def __init__(self, *, scope: str = "layer", pattern: str | None = None) -> None:
        super().__init__()
        self.scope, self.pattern = scope, pattern

    def uses_seed(self) -> bool:
        return False  # the weights' magnitudes decide alone

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        if self.pattern is not None:
            n, m = _pattern(str(self.pattern), sparsity)
            return PruneOutcome(model=model, masks=n_of_m_masks(model, n, m), details={"pattern": f"{n}:{m}"})
        scope = self.scope
        masks = prune_by_scores(model, sparsity, scope, lambda _n, p: p.detach().abs(), "magnitude")
        return PruneOutcome(model=model, masks=masks, details={"scope": scope})


def _pattern(text: str, sparsity: float) -> tuple[int, int]:
    try:
        n, m = (int(part) for part in text.split(":"))
    except ValueError:
        raise UsageError(f"magnitude pruner: pattern '{text}' is not N:M, e.g. 2:4") from None
    if not 0 < n < m:
        raise UsageError(f"magnitude pruner: pattern {n}:{m} needs 0 < N < M")
    if abs(sparsity - (1 - n / m)) > 1e-9:
        raise UsageError(
            f"magnitude pruner: pattern {n}:{m} gives sparsity {1 - n / m:g}, not {sparsity:g}; "
            f"run it with --sparsity {1 - n / m:g}"
        )
    return n, m


def n_of_m_masks(model, n: int, m: int) -> dict:
    """Keep the ``n`` largest |w| of every ``m`` consecutive weights along each weight's last dimension."""
    import torch

    masks = {}
    with torch.no_grad():
        for name, p in prunable_weights(model):
            rows = p.detach().abs().reshape(-1, p.shape[-1])
            width = rows.shape[1]
            padded = torch.full((rows.shape[0], math.ceil(width / m) * m), -1.0, dtype=rows.dtype)
            padded[:, :width] = rows
            groups = padded.view(rows.shape[0], -1, m)
            keep = torch.zeros_like(groups, dtype=torch.bool)
            keep.scatter_(2, groups.topk(n, dim=2).indices, True)
            keep = keep.view(rows.shape[0], -1)[:, :width]
            tail = width % m
            if tail:  # the last partial group keeps ceil(n * tail / m)
                k = math.ceil(n * tail / m)
                keep[:, width - tail :] = False
                keep[:, width - tail :].scatter_(1, rows[:, width - tail :].topk(k, dim=1).indices, True)
            masks[name] = keep.view_as(p).clone()
            p.mul_(masks[name])
    return masks


class RandomPruner(Pruner):
    """Zeroes weights chosen uniformly at random (seeded): the unstructured baseline every criterion must beat.

    Args:
        scope: ``layer``: each weight matrix to the target; ``global``: all weights ranked together.
    """

    structured = False

    def __init__(self, *, scope: str = "layer") -> None:
        super().__init__()
        self.scope = scope

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import torch

        scope = self.scope
        g = ctx.generator()
        masks = prune_by_scores(model, sparsity, scope, lambda _n, p: torch.rand(p.shape, generator=g), "random")
        return PruneOutcome(model=model, masks=masks, details={"scope": scope, "criterion": "random"})


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner(
        "magnitude", MagnitudePruner, description="unstructured: zero the smallest |w| (masks; per layer or global)"
    )
    register.add_pruner("random", RandomPruner, description="unstructured baseline: zero random weights (seeded)")
