"""``ugs``: the Unified GNN Sparsification of Chen et al. (ICML 2021, "A Unified Lottery Ticket Hypothesis
for Graph Neural Networks"), which prunes the graph and the weights together.

Each round trains the network with two trainable masks — one per undirected edge of the graph, used as
the edge weight, and one per prunable weight, multiplied into it — under an L1 penalty on both
(``lambda_graph``, ``lambda_weight``; the paper's 1e-2 and 1e-2 are the defaults).  After the round,
``p_graph`` (5%) of the remaining edges and ``p_weight`` (20%) of the remaining weights with the smallest
mask magnitudes are pruned, the masks of the rest are reset to 1 and the weights rewound to their seeded
initial values (theta_0).  Rounds repeat until the weight sparsity asked for is reached exactly (the last
round prunes just what is left); the graph sparsity is then ``1 - 0.95^rounds``.  The winning ticket —
theta_0 with both binary masks — is finally trained with the masks fixed, as in the paper's evaluation.

The variant is evaluated, counted and timed on the sparsified graph (the pruned edges removed, the same
edges in both directions so an undirected graph stays undirected), and reports both sparsities.
Deviations, named: training is gnneval's (Adam, lr 0.01, weight decay 5e-4, early stopping on the
validation split, ``epochs`` per round) rather than a fixed 200 epochs; the model must accept
``edge_weight`` (torch_geometric's GCN does), others are refused by name.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any

from gnneval.plugin import PruneContext, PruneOutcome, Pruner, UsageError, hookimpl
from gnneval.plugin.helpers import prunable_weights


def _undirected_pairs(edge_index):
    """An id per undirected edge (both directions share it) and the number of ids."""
    import torch

    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    key = lo * (int(edge_index.max()) + 1) + hi
    uniq, pair = torch.unique(key, return_inverse=True)
    return pair, int(uniq.numel())


class UgsPruner(Pruner):
    """Unified GNN Sparsification (Chen et al., ICML 2021): graph and weight masks trained together under L1,
    pruned round by round, the winning ticket rewound and retrained (see the module's docstring).

    Args:
        p_graph: share of the remaining edges pruned per round.
        p_weight: share of the remaining weights pruned per round.
        lambda_graph: L1 penalty on the graph mask.
        lambda_weight: L1 penalty on the weight mask.
        epochs: training epochs per round and for the final ticket.
        patience: early-stopping patience, in epochs.
    """

    structured = False

    def __init__(
        self,
        *,
        p_graph: float = 0.05,
        p_weight: float = 0.2,
        lambda_graph: float = 1e-2,
        lambda_weight: float = 1e-2,
        epochs: int = 200,
        patience: int = 50,
    ) -> None:
        super().__init__()
        self.p_graph, self.p_weight = float(p_graph), float(p_weight)
        self.lambda_graph, self.lambda_weight = float(lambda_graph), float(lambda_weight)
        self.epochs, self.patience = int(epochs), int(patience)

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import torch

        from gnneval.plugin.helpers import reinitialise, train

        p_graph, p_weight = self.p_graph, self.p_weight
        epochs, patience = self.epochs, self.patience
        graph = ctx.graph
        if graph.task != "node-classification":
            raise UsageError(f"ugs prunes node-classification GCNs (as Chen et al.); this is a '{graph.task}' model")
        _check_edge_weights(model, graph)
        reinitialise(model, ctx.seed)
        theta0 = copy.deepcopy(model.state_dict())
        pair, n_pairs = _undirected_pairs(graph.data.edge_index)
        keep_edges = torch.ones(n_pairs, dtype=torch.bool)
        weights = prunable_weights(model)
        keep_w = {n: torch.ones_like(p, dtype=torch.bool) for n, p in weights}
        total_w = sum(p.numel() for _, p in weights)
        target = int(round(sparsity * total_w))
        rounds, flops, history = 0, 0.0, []
        while total_w - sum(int(m.sum()) for m in keep_w.values()) < target:
            mg, mw, used = self._round(model, graph, pair, n_pairs, keep_edges, keep_w, epochs, patience, ctx)
            flops += used
            pruned_now = total_w - sum(int(m.sum()) for m in keep_w.values())
            step_w = min(max(1, round(p_weight * (total_w - pruned_now))), target - pruned_now)
            keep_w = _prune_smallest(mw, keep_w, step_w)
            keep_edges = _prune_edges(mg, keep_edges, max(1, round(p_graph * int(keep_edges.sum()))))
            rounds += 1
            history.append(
                {
                    "round": rounds,
                    "weight_sparsity": 1 - sum(int(m.sum()) for m in keep_w.values()) / total_w,
                    "graph_sparsity": 1 - int(keep_edges.sum()) / n_pairs,
                }
            )
            model.load_state_dict(theta0)  # rewind
        sparse_graph = _sparsified(graph, pair, keep_edges)
        masks = {n: m.clone() for n, m in keep_w.items()}
        model.load_state_dict(theta0)
        final = train(model, sparse_graph, epochs=epochs, patience=patience, masks=masks, seed=ctx.seed)
        flops += final.flops
        details: dict[str, Any] = {
            "rounds": rounds,
            "graph_sparsity": 1 - int(keep_edges.sum()) / n_pairs,
            "weight_sparsity": 1 - sum(int(m.sum()) for m in masks.values()) / total_w,
            "history": history,
            "final_best_val": final.best_val,
        }
        return PruneOutcome(model=model, masks=masks, graph=sparse_graph, details=details, training_flops=flops)

    def _round(self, model, graph, pair, n_pairs, keep_edges, keep_w, epochs, patience, ctx) -> tuple:
        """One round: train weights and both masks with the L1 penalties; returns the masks and the FLOPs."""
        import torch
        import torch.nn.functional as F
        from torch.func import functional_call

        from gnneval.plugin.helpers import count_flops

        d = graph.data
        lam_g, lam_w = self.lambda_graph, self.lambda_weight
        torch.manual_seed(ctx.seed + 7)
        mg = torch.ones(n_pairs, requires_grad=True)
        mw = {n: torch.ones_like(m, dtype=torch.float32, requires_grad=True) for n, m in keep_w.items()}
        params = dict(model.named_parameters())
        opt = torch.optim.Adam([*params.values(), mg, *mw.values()], lr=0.01, weight_decay=5e-4)
        forward_flops = float(count_flops(model, graph)[0])
        best, best_masks, since, used = (
            -1.0,
            (mg.detach().clone(), {n: m.detach().clone() for n, m in mw.items()}),
            0,
            0.0,
        )
        for _epoch in range(epochs):
            model.train()
            opt.zero_grad()
            edge_w = (mg * keep_edges.float())[pair]
            effective = {n: (params[n] * mw[n] * keep_w[n]) if n in mw else params[n] for n in params}
            out = functional_call(model, effective, (d.x, d.edge_index), {"edge_weight": edge_w})
            loss = F.cross_entropy(out[d.train_mask], d.y[d.train_mask])
            loss = loss + lam_g * mg.abs().sum() + lam_w * sum(m.abs().sum() for m in mw.values())
            loss.backward()
            opt.step()
            used += 3 * forward_flops
            with torch.no_grad():
                model.eval()
                out = functional_call(model, effective, (d.x, d.edge_index), {"edge_weight": edge_w})
                val = float((out[d.val_mask].argmax(1) == d.y[d.val_mask]).float().mean())
            if val > best:
                best, since = val, 0
                best_masks = (mg.detach().clone(), {n: m.detach().clone() for n, m in mw.items()})
            else:
                since += 1
                if since >= patience:
                    break
        return best_masks[0], best_masks[1], used


def _check_edge_weights(model, graph) -> None:
    import torch

    from gnneval.plugin.helpers import model_inputs

    try:
        with torch.no_grad():
            x, ei = model_inputs(graph, edges="edge_index")[:2]  # its mask is one weight per edge
            model.eval()(x, ei, edge_weight=torch.ones(ei.shape[1]))
    except TypeError:
        raise UsageError(
            f"ugs needs a model that takes edge weights (model(x, edge_index, edge_weight=...)), as "
            f"torch_geometric's GCN does; {type(model).__name__} does not"
        ) from None


def _prune_smallest(mw: dict, keep: dict, k: int) -> dict:
    """Zero the ``k`` remaining weights with the smallest |mask| (global ranking)."""
    import torch

    names = list(keep)
    scores = torch.cat([torch.where(keep[n], mw[n].abs(), torch.tensor(math.inf)).flatten() for n in names])
    flat_keep = torch.cat([keep[n].flatten() for n in names]).clone()
    if k > 0:
        flat_keep[torch.argsort(scores, stable=True)[:k]] = False
    out, offset = {}, 0
    for n in names:
        out[n] = flat_keep[offset : offset + keep[n].numel()].view_as(keep[n])
        offset += keep[n].numel()
    return out


def _prune_edges(mg, keep, k: int):
    import torch

    scores = torch.where(keep, mg.abs(), torch.tensor(math.inf))
    out = keep.clone()
    out[torch.argsort(scores, stable=True)[:k]] = False
    return out


def _sparsified(graph, pair, keep_pairs):
    """The graph with the pruned undirected edges removed in both directions."""
    data = copy.copy(graph.data)
    data.edge_index = graph.data.edge_index[:, keep_pairs[pair]]
    return replace(graph, data=data, source=f"{graph.source}; ugs-sparsified")


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner(
        "ugs",
        UgsPruner,
        description="UGS (Chen et al. 2021): graph and weight masks, L1, "
        "iterative pruning with rewinding; returns the sparsified graph",
    )
