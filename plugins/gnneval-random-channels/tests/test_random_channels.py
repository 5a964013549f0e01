"""The plugin is found through its entry point and prunes like a structured pruner."""

import copy

import pytest

torch = pytest.importorskip("torch")


def test_found_through_entry_point():
    from gnneval._plugins.manager import build_plugin_host

    host = build_plugin_host()
    info = host.plugins["random-channels"]
    assert info.dist == "gnneval-random-channels"
    assert info.status == "loaded"
    reg = host.registry.get("pruner", "random-channels")
    assert reg.plugin.dist == "gnneval-random-channels"
    assert info.registers == {"pruner": ["random-channels"]}


def test_removes_channels_reproducibly():
    from torch_geometric.nn.models import GCN

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.builtin.datasets.synthetic import make_sbm
    from gnneval.plugin import GraphData, PruneContext

    host = build_plugin_host()
    cls = host.registry.get("pruner", "random-channels").obj
    torch.manual_seed(0)
    model = GCN(32, 40, 2, out_channels=4).eval()
    graph = GraphData("sbm", "node-classification", make_sbm(), 32, 4, "generated")
    a = cls().prune(copy.deepcopy(model), 0.5, PruneContext(graph, "gcn", seed=3))
    b = cls().prune(copy.deepcopy(model), 0.5, PruneContext(graph, "gcn", seed=3))
    c = cls().prune(copy.deepcopy(model), 0.5, PruneContext(graph, "gcn", seed=4))
    assert a.model.convs[0].lin.weight.shape == (20, 32)
    assert torch.equal(a.model.convs[0].lin.weight, b.model.convs[0].lin.weight)
    assert not torch.equal(a.model.convs[0].lin.weight, c.model.convs[0].lin.weight)
    out = a.model(graph.data.x, graph.data.edge_index)
    assert out.shape == (graph.data.num_nodes, 4)


def test_contract(gnneval_graph, gnneval_model):
    from gnneval_random_channels import RandomChannelPruner

    from gnneval.testing import check_pruner

    check_pruner(RandomChannelPruner, gnneval_graph, gnneval_model, sparsities=(0.25, 0.5, 0.9))
