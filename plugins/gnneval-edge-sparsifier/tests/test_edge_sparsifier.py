"""The edge sparsifier passes the contract, keeps edges symmetric and drops dissimilar ones first."""

import copy

import pytest
import torch
from gnneval_edge_sparsifier import EdgeSparsifier

from gnneval.plugin import PruneContext
from gnneval.testing import check_pruner


@pytest.mark.parametrize("score", ["cosine", "random"])
def test_contract(gnneval_graph, gnneval_model, score):
    check_pruner(EdgeSparsifier, gnneval_graph, gnneval_model, sparsities=(0.3, 0.6, 0.9), options={"score": score})


def test_registered_through_its_entry_point(gnneval_host):
    assert gnneval_host.registry.get("pruner", "edge-sparsifier").plugin.dist == "gnneval-edge-sparsifier"


def test_symmetric_and_weights_untouched(gnneval_graph, gnneval_model):
    out = EdgeSparsifier().prune(copy.deepcopy(gnneval_model), 0.5, PruneContext(gnneval_graph, "gcn", 0))
    ei = out.graph.data.edge_index
    fwd = set(map(tuple, ei.t().tolist()))
    assert all((b, a) in fwd for a, b in fwd)
    for (n, p), (_, q) in zip(out.model.named_parameters(), gnneval_model.named_parameters()):
        assert torch.equal(p, q), n
    assert gnneval_graph.data.edge_index.shape[1] > ei.shape[1]  # the input graph is not changed


def test_end_to_end_counts_fewer_message_passing_flops(gnneval_graph, gnneval_model):
    from gnneval.plugin.helpers import count_flops

    out = EdgeSparsifier().prune(copy.deepcopy(gnneval_model), 0.6, PruneContext(gnneval_graph, "gcn", 0))
    assert count_flops(out.model, out.graph)[0] < count_flops(gnneval_model, gnneval_graph)[0]
