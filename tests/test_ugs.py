"""UGS (Chen et al. 2021): exact weight sparsity, masks kept through the final training, a symmetric graph
mask on an undirected graph, the paper's graph-sparsity schedule, and seeded reproducibility."""

from __future__ import annotations

import copy

import torch

from gnneval._plugins.manager import build_plugin_host
from gnneval.plugin import PruneContext
from gnneval.plugin.helpers import prunable_weights
from gnneval.testing import check_pruner

OPTS = {"epochs": 30, "patience": 10}


def _ugs():
    return build_plugin_host().registry.get("pruner", "ugs").obj


def test_contract(gnneval_graph, gnneval_model):
    check_pruner(_ugs(), gnneval_graph, gnneval_model, sparsities=(0.5,), options=OPTS)


def test_exact_sparsities_symmetric_graph_and_masks_kept(gnneval_graph, gnneval_model):
    out = _ugs()(**OPTS).prune(copy.deepcopy(gnneval_model), 0.6, PruneContext(gnneval_graph, "gcn", seed=1))
    weights = prunable_weights(out.model)
    total = sum(p.numel() for _, p in weights)
    zero = sum(int((~out.masks[n]).sum()) for n, _ in weights)
    assert zero == round(0.6 * total)  # exactly the weight sparsity asked for
    for n, p in weights:
        assert not p[~out.masks[n]].any()  # the final training kept the mask
    rounds = out.details["rounds"]
    assert abs(out.details["graph_sparsity"] - (1 - 0.95**rounds)) < 0.02  # p_g = 5% of what remains per round
    kept = {tuple(e) for e in out.graph.data.edge_index.t().tolist()}
    assert all((b, a) in kept for a, b in kept)  # an undirected graph stays undirected
    assert len(kept) < gnneval_graph.data.edge_index.shape[1]


def test_seeded_reproducibility(gnneval_graph, gnneval_model):
    a = _ugs()(**OPTS).prune(copy.deepcopy(gnneval_model), 0.5, PruneContext(gnneval_graph, "gcn", seed=4))
    b = _ugs()(**OPTS).prune(copy.deepcopy(gnneval_model), 0.5, PruneContext(gnneval_graph, "gcn", seed=4))
    assert all(torch.equal(a.masks[n], b.masks[n]) for n in a.masks)
    assert torch.equal(a.graph.data.edge_index, b.graph.data.edge_index)


def _tap():
    return build_plugin_host().registry.get("pruner", "train-and-prune").obj


def test_slr_and_admm_reach_the_exact_sparsity_keep_masks_and_reproduce(gnneval_graph, gnneval_model):
    import pytest

    for method in ("slr", "admm"):
        opts = {"method": method, "rounds": 3, "round_epochs": 5, "epochs": 20, "patience": 10}
        a = _tap()(**opts).prune(copy.deepcopy(gnneval_model), 0.7, PruneContext(gnneval_graph, "gcn", seed=2))
        b = _tap()(**opts).prune(copy.deepcopy(gnneval_model), 0.7, PruneContext(gnneval_graph, "gcn", seed=2))
        weights = prunable_weights(a.model)
        total = sum(p.numel() for _, p in weights)
        assert sum(int((~a.masks[n]).sum()) for n, _ in weights) == round(0.7 * total)
        assert all(not p[~a.masks[n]].any() for n, p in weights)
        assert all(torch.equal(a.masks[n], b.masks[n]) for n in a.masks)
        hist = a.details["history"]
        assert len(hist) == 3 and a.details["method"] == method and a.training_flops > 0
        if method == "admm":
            assert all(h["step"] == 1.0 for h in hist)
        else:
            assert hist[0]["step"] == pytest.approx(1e-2)
    with pytest.raises(Exception, match="unknown method"):
        _tap()(method="sgd").prune(copy.deepcopy(gnneval_model), 0.5, PruneContext(gnneval_graph, "gcn", seed=0))
