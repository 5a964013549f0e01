"""SNIP as Lee et al. publish it: scored at initialisation, then trained; grad-magnitude is the old one-shot."""

import copy

import torch
from gnneval_snip import GradMagnitudePruner, SnipPruner, saliency

from gnneval.plugin import PruneContext
from gnneval.plugin.helpers import prunable_weights, reinitialise
from gnneval.testing import check_pruner


def test_contracts(gnneval_graph, gnneval_model):
    check_pruner(GradMagnitudePruner, gnneval_graph, gnneval_model, sparsities=(0.5, 0.9))
    check_pruner(SnipPruner, gnneval_graph, gnneval_model, sparsities=(0.8,), options={"epochs": 5, "patience": 5})


def test_registered_through_its_entry_point(gnneval_host):
    reg = gnneval_host.registry.get("pruner", "snip")
    assert reg.obj is SnipPruner and reg.plugin.dist == "gnneval-snip"
    assert gnneval_host.registry.get("pruner", "grad-magnitude").obj is GradMagnitudePruner


def test_snip_masks_are_computed_at_initialisation_not_on_the_trained_weights(gnneval_graph, gnneval_model):
    ctx = PruneContext(gnneval_graph, "gcn", seed=3)
    fresh = copy.deepcopy(gnneval_model)
    reinitialise(fresh, 3)
    at_init, _ = saliency(fresh, ctx)
    trained, _ = saliency(copy.deepcopy(gnneval_model), ctx)
    outcome = SnipPruner(epochs=2, patience=2).prune(copy.deepcopy(gnneval_model), 0.8, ctx)
    names = [n for n, _ in prunable_weights(fresh)]
    kept = torch.cat([outcome.masks[n].flatten() for n in names])
    init_scores = torch.cat([at_init[n].flatten() for n in names])
    trained_scores = torch.cat([trained[n].flatten() for n in names])
    assert init_scores[kept].min() >= init_scores[~kept].max()  # the ranking at initialisation
    assert not (trained_scores[kept].min() >= trained_scores[~kept].max())  # not the trained model's
    assert outcome.training_flops > 0 and outcome.details["epochs"] >= 1


def test_grad_magnitude_keeps_the_most_sensitive_trained_weights(gnneval_graph, gnneval_model):
    ctx = PruneContext(gnneval_graph, "gcn", 0)
    scores, _ = saliency(copy.deepcopy(gnneval_model), ctx)
    outcome = GradMagnitudePruner().prune(copy.deepcopy(gnneval_model), 0.8, ctx)
    names = [n for n, _ in prunable_weights(gnneval_model)]
    kept = torch.cat([outcome.masks[n].flatten() for n in names])
    flat = torch.cat([scores[n].flatten() for n in names])
    assert flat[kept].min() >= flat[~kept].max()
