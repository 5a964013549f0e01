"""Masks from scores: zero exactly the ``round(sparsity * n)`` lowest-scoring weights, per layer or globally."""

from __future__ import annotations

from typing import Any

from gnneval.core.errors import UsageError
from gnneval.model.counting import prunable_weights


def smallest_k_mask(scores: Any, k: int) -> Any:
    """Boolean mask (same shape as ``scores``) that is False at exactly the ``k`` smallest entries."""
    import torch

    flat = scores.flatten()
    mask = torch.ones_like(flat, dtype=torch.bool)
    if k > 0:
        order = torch.argsort(flat, stable=True)
        mask[order[:k]] = False
    return mask.view_as(scores)


def prune_by_scores(model: Any, sparsity: float, scope: str, score: Any, who: str) -> dict:
    """Zero the lowest-scoring ``round(sparsity * n)`` weights, per weight matrix (``scope="layer"``) or
    across all of them (``"global"``); ``score(name, param)`` gives a tensor of the param's shape.
    Returns the masks (True = kept)."""
    import torch

    if scope not in ("layer", "global"):
        raise UsageError(f"{who} pruner: unknown scope '{scope}'; use 'layer' or 'global'")
    weights = prunable_weights(model)
    masks = {}
    with torch.no_grad():
        scores = {name: score(name, p) for name, p in weights}
        if scope == "global":
            flat = torch.cat([scores[name].flatten() for name, _ in weights])
            keep = smallest_k_mask(flat, int(round(sparsity * flat.numel())))
            offset = 0
            for name, p in weights:
                masks[name] = keep[offset : offset + p.numel()].view_as(p).clone()
                offset += p.numel()
        else:
            for name, p in weights:
                masks[name] = smallest_k_mask(scores[name], int(round(sparsity * p.numel())))
        for name, p in weights:
            p.mul_(masks[name])
    return masks
