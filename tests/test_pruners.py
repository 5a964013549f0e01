"""Structured pruning really shrinks the model; magnitude pruning is exact."""

from __future__ import annotations

import copy

import pytest
import torch

from gnneval._plugins.manager import build_plugin_host
from gnneval.builtin.datasets.synthetic import make_sbm
from gnneval.model.counting import count_flops, count_params, prunable_weights
from gnneval.plugin import GraphData, PruneContext, UnsupportedModelError


@pytest.fixture(scope="module")
def graph():
    return GraphData("sbm", "node-classification", make_sbm(seed=1), 32, 4, "generated")


@pytest.fixture(scope="module")
def registry():
    return build_plugin_host().registry


class GraphConvNet(torch.nn.Module):
    """Hand-written chain: GraphConv -> BatchNorm -> ReLU -> GraphConv -> ReLU -> Linear head."""

    def __init__(self):
        super().__init__()
        from torch_geometric.nn import GraphConv

        self.convs = torch.nn.ModuleList([GraphConv(32, 48), GraphConv(48, 48)])
        self.bn = torch.nn.BatchNorm1d(48)
        self.head = torch.nn.Linear(48, 4)

    def forward(self, x, edge_index):
        x = self.bn(self.convs[0](x, edge_index)).relu()
        x = self.convs[1](x, edge_index).relu()
        return self.head(x)


def _models():
    from torch_geometric.nn.models import GCN, GraphSAGE

    torch.manual_seed(0)
    yield "gcn-2", GCN(32, 48, 2, out_channels=4)
    yield "gcn-3", GCN(32, 48, 3, out_channels=4)
    yield "sage-bn", GraphSAGE(32, 48, 3, out_channels=4, norm="batch_norm")
    yield "graphconv", GraphConvNet()


def _randomise_batchnorm(model):
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.normal_()
            mod.bias.data.normal_()


@pytest.mark.parametrize("name,model", list(_models()))
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_structured_shrinks_and_matches_zeroing(name, model, sparsity, graph, registry):
    model.eval()
    _randomise_batchnorm(model)
    pruner = registry.get("pruner", "structured").obj()
    dense_params, _ = count_params(model)
    dense_flops, _ = count_flops(model, graph)
    outcome = pruner.prune(copy.deepcopy(model), sparsity, PruneContext(graph, name, seed=0))
    pruned = outcome.model.eval()
    params, nonzero = count_params(pruned)
    flops, _ = count_flops(pruned, graph)
    assert params < dense_params and flops < dense_flops
    # Every hidden layer now has round((1 - s) * 48) channels.
    keep = max(1, round((1 - sparsity) * 48))
    for layer, change in outcome.details["channels"].items():
        assert change == f"48->{keep}", (layer, change)
    assert pruned.convs[0].out_channels == keep
    out = pruned(graph.data.x, graph.data.edge_index)
    assert out.shape == (graph.data.num_nodes, 4)
    # The pruner checked removal against zeroing; check it again independently here.
    assert outcome.details["check_max_abs_diff"] <= 1e-4


def test_removal_equals_zeroing_independently(graph, registry):
    """Zero the removed channels' producing weights in the dense model by hand: same outputs."""
    from torch_geometric.nn.models import GCN

    torch.manual_seed(1)
    model = GCN(32, 16, 2, out_channels=4).eval()
    pruned = (
        registry.get("pruner", "structured")
        .obj()
        .prune(copy.deepcopy(model), 0.5, PruneContext(graph, "gcn", seed=0))
        .model.eval()
    )
    w = model.convs[0].lin.weight.detach()
    kept = [int(torch.nonzero((w == row).all(1))[0]) for row in pruned.convs[0].lin.weight.detach()]
    dropped = sorted(set(range(16)) - set(kept))
    zeroed = copy.deepcopy(model)
    with torch.no_grad():
        zeroed.convs[0].lin.weight[dropped] = 0
        zeroed.convs[0].bias[dropped] = 0
    x, ei = graph.data.x, graph.data.edge_index
    torch.testing.assert_close(pruned(x, ei), zeroed(x, ei), atol=1e-5, rtol=1e-5)


def test_l1_keeps_the_largest_channels(graph, registry):
    from torch_geometric.nn.models import GCN

    torch.manual_seed(2)
    model = GCN(32, 8, 2, out_channels=4).eval()
    with torch.no_grad():
        model.convs[0].lin.weight[[1, 5]] *= 100  # the two strongest channels
    pruned = (
        registry.get("pruner", "structured")
        .obj()
        .prune(copy.deepcopy(model), 0.75, PruneContext(graph, "gcn", seed=0))
        .model
    )
    torch.testing.assert_close(pruned.convs[0].lin.weight, model.convs[0].lin.weight[[1, 5]])


class SkipGCN(torch.nn.Module):
    """x1 = conv1(x); x2 = conv2(x1) + x1: a residual the pruner must refuse."""

    def __init__(self):
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1 = GCNConv(32, 16)
        self.conv2 = GCNConv(16, 16)
        self.head = torch.nn.Linear(16, 4)

    def forward(self, x, edge_index):
        h = self.conv1(x, edge_index).relu()
        h = self.conv2(h, edge_index).relu() + h
        return self.head(h)


class LayerNormGCN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1 = GCNConv(32, 16)
        self.norm = torch.nn.LayerNorm(16)
        self.conv2 = GCNConv(16, 4)

    def forward(self, x, edge_index):
        return self.conv2(self.norm(self.conv1(x, edge_index)).relu(), edge_index)


@pytest.mark.parametrize("model,layer", [(SkipGCN, "conv"), (LayerNormGCN, "norm")])
def test_unsupported_structures_are_refused_naming_the_layer(model, layer, graph, registry):
    torch.manual_seed(0)
    m = model().eval()
    with pytest.raises(UnsupportedModelError, match=f"layer '{layer}"):
        registry.get("pruner", "structured").obj().prune(m, 0.5, PruneContext(graph, "custom", seed=0))


@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.77, 0.9])
def test_magnitude_is_exact(scope, sparsity, graph, registry):
    from torch_geometric.nn.models import GCN

    torch.manual_seed(0)
    model = GCN(32, 37, 2, out_channels=4).eval()
    cls = registry.get("pruner", "magnitude").obj
    outcome = cls(scope=scope).prune(copy.deepcopy(model), sparsity, PruneContext(graph, "gcn", seed=0))
    weights = prunable_weights(outcome.model)
    if scope == "layer":
        for name, p in weights:
            assert int((p == 0).sum()) == round(sparsity * p.numel()), name
            assert torch.equal(p != 0, outcome.masks[name])
    else:
        total = sum(p.numel() for _, p in weights)
        assert sum(int((p == 0).sum()) for _, p in weights) == round(sparsity * total)
    # The kept weights are the largest: every kept |w| >= every pruned |w| (per layer or globally).
    dense = dict(prunable_weights(model))
    kept = torch.cat([dense[n].abs()[outcome.masks[n]] for n, _ in weights])
    gone = torch.cat([dense[n].abs()[~outcome.masks[n]] for n, _ in weights])
    if scope == "global" and gone.numel() and kept.numel():
        assert kept.min() >= gone.max()


def _heads_and_gin_models():
    from torch_geometric.nn.models import GAT, GIN

    from gnneval.builtin.architectures.graph_classifier import build_graph_classifier

    torch.manual_seed(0)
    yield "gat-channels", GAT(32, 24, 3, out_channels=4, heads=3), {}, "node-classification"
    yield "gat-heads", GAT(32, 24, 3, out_channels=4, heads=4), {"gat": "heads"}, "node-classification"
    yield "gin", GIN(32, 16, 3, out_channels=4, train_eps=True), {}, "node-classification"
    yield "gin-graph", build_graph_classifier(8, 16, 2, 3), {}, "graph-classification"
    yield "gat-graph", build_graph_classifier(8, 16, 2, 2, gnn="gat", heads=2), {}, "graph-classification"


@pytest.fixture(scope="module")
def graph_set():
    from gnneval.builtin.datasets.synthetic import make_graph_classification

    return GraphData("sbm", "graph-classification", make_graph_classification(graphs=60, seed=3), 8, 2, "generated")


@pytest.mark.parametrize("name,model,opts,task", list(_heads_and_gin_models()))
def test_structured_gat_and_gin_shrink_and_match_zeroing(name, model, opts, task, graph, graph_set, registry):
    from torch_geometric.nn import GATConv

    from gnneval.model.forward import model_inputs

    g = graph if task == "node-classification" else graph_set
    model.eval()
    _randomise_batchnorm(model)
    if name == "gin":
        with torch.no_grad():
            for m in model.modules():
                if hasattr(m, "eps") and isinstance(m.eps, torch.nn.Parameter):
                    m.eps.fill_(0.4)
    pruner = registry.get("pruner", "structured").obj(**opts)
    outcome = pruner.prune(copy.deepcopy(model), 0.5, PruneContext(g, name, seed=0))
    pruned = outcome.model.eval()
    assert count_params(pruned)[0] < 0.6 * count_params(model)[0]
    assert outcome.details["check_max_abs_diff"] <= 1e-4  # physical removal == zeroing the same channels
    for (n, before), after in zip(
        ((n, m) for n, m in model.named_modules() if isinstance(m, GATConv)),
        (m for m in pruned.modules() if isinstance(m, GATConv)),
    ):
        # the module's stored sizes follow its tensors, and the right thing shrank
        assert after.att_src.shape == (1, after.heads, after.out_channels) == after.att_dst.shape, n
        assert after.lin.weight.shape[0] == after.heads * after.out_channels, n
        if opts.get("gat") == "heads" and before.concat:
            assert after.heads == before.heads // 2 and after.out_channels == before.out_channels, n
        elif before.concat:
            assert after.heads == before.heads and after.out_channels == before.out_channels // 2, n
    out = pruned(*model_inputs(g))
    assert out.shape == (model(*model_inputs(g)).shape)
    out.sum().backward()  # the pruned model trains


def test_gat_heads_are_scored_by_their_weights(graph, registry):
    from torch_geometric.nn.models import GAT

    torch.manual_seed(4)
    model = GAT(32, 16, 2, out_channels=4, heads=4).eval()
    with torch.no_grad():
        model.convs[0].lin.weight[8:12] *= 50  # head 2 (channels 8..11) is by far the strongest
    pruned = (
        registry.get("pruner", "structured")
        .obj(gat="heads")
        .prune(copy.deepcopy(model), 0.75, PruneContext(graph, "gat", seed=0))
        .model
    )
    assert pruned.convs[0].heads == 1
    torch.testing.assert_close(pruned.convs[0].lin.weight, model.convs[0].lin.weight[8:12])
    torch.testing.assert_close(pruned.convs[0].att_src, model.convs[0].att_src[:, 2:3])


@pytest.mark.parametrize("criterion", ["l2", "random", "taylor", "bn"])
def test_structured_criteria(criterion, graph, registry):
    from torch_geometric.nn.models import GraphSAGE

    torch.manual_seed(5)
    model = GraphSAGE(32, 16, 3, out_channels=4, norm="batch_norm").eval()
    _randomise_batchnorm(model)
    cls = registry.get("pruner", "structured").obj
    ctx = PruneContext(graph, "sage", seed=0)
    out = cls(criterion=criterion).prune(copy.deepcopy(model), 0.5, ctx)
    assert out.details["criterion"] == criterion and out.details["check_max_abs_diff"] <= 1e-4
    assert out.model.convs[0].out_channels == 8
    assert all(p.grad is None for p in out.model.parameters())  # taylor's gradients are not left behind
    again = cls(criterion=criterion).prune(copy.deepcopy(model), 0.5, ctx)
    torch.testing.assert_close(out.model.convs[0].lin_l.weight, again.model.convs[0].lin_l.weight)  # seeded
    if criterion == "bn":  # network slimming keeps the channels with the largest |gamma|
        gamma = model.norms[0].module.weight.detach().abs()
        kept = torch.sort(torch.argsort(-gamma, stable=True)[:8]).values
        torch.testing.assert_close(out.model.norms[0].module.weight, model.norms[0].module.weight[kept])


def test_taylor_drops_a_channel_the_loss_ignores_where_l1_keeps_it(graph, registry):
    """Channel 3 has the largest producing weights but the next layer never reads it: L1 keeps it,
    first-order Taylor (its gradient is zero) drops it."""
    from torch_geometric.nn.models import GCN

    torch.manual_seed(6)
    model = GCN(32, 8, 2, out_channels=4).eval()
    with torch.no_grad():
        model.convs[0].lin.weight[3] *= 100
        model.convs[1].lin.weight[:, 3] = 0
    cls = registry.get("pruner", "structured").obj
    ctx = PruneContext(graph, "gcn", seed=0)

    def kept(criterion):
        pruned = cls(criterion=criterion).prune(copy.deepcopy(model), 0.5, ctx).model
        w = model.convs[0].lin.weight.detach()
        return {int(torch.nonzero((w == row).all(1))[0]) for row in pruned.convs[0].lin.weight.detach()}

    assert 3 in kept("l1") and 3 not in kept("taylor")


def test_bn_criterion_without_batchnorm_is_refused_naming_the_layer(graph, registry):
    from torch_geometric.nn.models import GCN

    with pytest.raises(UnsupportedModelError, match="BatchNorm after layer 'convs.0'"):
        registry.get("pruner", "structured").obj(criterion="bn").prune(
            GCN(32, 8, 2, out_channels=4).eval(), 0.5, PruneContext(graph, "gcn", seed=0)
        )


def test_structured_checks_removal_on_a_subgraph_of_a_large_graph(graph, registry, monkeypatch):
    """Above CHECK_WHOLE_NODES nodes, the structured pruner traces the model and checks removal against zeroing
    on the first nodes' subgraph (three whole passes at ogbn-products' size)."""
    from torch_geometric.nn.models import GCN

    import gnneval.prune.variants as variants

    monkeypatch.setattr(variants, "CHECK_WHOLE_NODES", 50)
    monkeypatch.setattr(variants, "CHECK_NODES", 40)
    torch.manual_seed(0)
    model = GCN(graph.num_features, 48, 3, out_channels=4).eval()
    seen: list[int] = []
    model.convs[0].register_forward_hook(lambda _m, inp, _o: seen.append(int(inp[0].shape[0])))
    outcome = registry.get("pruner", "structured").obj().prune(model, 0.5, PruneContext(graph, "gcn", seed=0))
    assert seen and set(seen) == {40}  # every pass the pruner made ran on the subgraph
    assert outcome.details["check_max_abs_diff"] <= 1e-4
    with torch.no_grad():  # the pruned model runs on the whole graph
        pruned = outcome.model.eval()(graph.data.x, graph.data.edge_index)
    assert pruned.shape == (graph.data.num_nodes, 4) and torch.isfinite(pruned).all()
