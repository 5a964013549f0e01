"""SNIP passes gnneval's pruner contract and ranks by |g * w|."""

import copy

import torch
from gnneval_snip import SnipPruner

from gnneval.plugin import PruneContext
from gnneval.testing import check_pruner


def test_contract(gnneval_graph, gnneval_model):
    check_pruner(SnipPruner, gnneval_graph, gnneval_model, sparsities=(0.5, 0.9))


def test_registered_through_its_entry_point(gnneval_host):
    reg = gnneval_host.registry.get("pruner", "snip")
    assert reg.obj is SnipPruner and reg.plugin.dist == "gnneval-snip"


def test_keeps_the_most_sensitive_weights(gnneval_graph, gnneval_model):
    import torch.nn.functional as F

    from gnneval.plugin import prunable_weights

    model = copy.deepcopy(gnneval_model)
    d = gnneval_graph.data
    weights = prunable_weights(model)
    loss = F.cross_entropy(model(d.x, d.edge_index)[d.train_mask], d.y[d.train_mask])
    grads = torch.autograd.grad(loss, [p for _, p in weights])
    saliency = torch.cat([(g * p).abs().flatten() for (_, p), g in zip(weights, grads)]).detach()
    outcome = SnipPruner().prune(copy.deepcopy(gnneval_model), 0.8, PruneContext(gnneval_graph, "gcn", 0))
    kept = torch.cat([outcome.masks[n].flatten() for n, _ in weights])
    assert saliency[kept].min() >= saliency[~kept].max()
