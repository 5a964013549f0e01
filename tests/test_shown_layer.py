"""The "last hidden layer" is the output of the last message-passing layer that feeds the head or the pooling —
derived from what the model computes, not from the layers' position — and --layer chooses another."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv, SAGEConv
from torch_geometric.nn.models import GAT, GCN

from gnneval.model.forward import run_model
from gnneval.testing import small_graph


@pytest.fixture(scope="module")
def graph():
    return small_graph()


class SageWithHead(torch.nn.Module):
    def __init__(self, d_in: int, classes: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = SAGEConv(d_in, 16), SAGEConv(16, 16)
        self.head = torch.nn.Linear(16, classes)

    def forward(self, x, edge_index):
        return self.head(F.relu(self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)))


class TutorialGcn(torch.nn.Module):
    """PyG's tutorial GCN: the last conv gives the classes, through a log-softmax."""

    def __init__(self, d_in: int, classes: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = GCNConv(d_in, 16), GCNConv(16, classes)

    def forward(self, x, edge_index):
        return F.log_softmax(self.conv2(F.relu(self.conv1(x, edge_index)), edge_index), dim=1)


def _layer(model, graph) -> str | None:
    torch.manual_seed(0)
    return run_model(model.eval(), graph).last_hidden_layer()


def test_a_gcn_whose_last_conv_gives_the_logits_shows_the_conv_before(graph):
    torch.manual_seed(0)
    model = GCN(graph.num_features, 16, 2, out_channels=graph.num_classes)
    assert _layer(model, graph) == "convs.0"


def test_a_gat_likewise(graph):
    torch.manual_seed(0)
    model = GAT(graph.num_features, 8, 2, out_channels=graph.num_classes, heads=2)
    assert _layer(model, graph) == "convs.0"


def test_a_sage_with_a_linear_head_shows_its_last_conv(graph):
    torch.manual_seed(0)
    assert _layer(SageWithHead(graph.num_features, graph.num_classes), graph) == "conv2"


def test_a_users_class_ending_in_log_softmax_shows_the_conv_before(graph):
    torch.manual_seed(0)
    assert _layer(TutorialGcn(graph.num_features, graph.num_classes), graph) == "conv1"


def test_a_gin_graph_classifier_shows_the_last_conv_that_feeds_the_pooling():
    from gnneval._plugins.manager import build_plugin_host

    g = small_graph(task="graph-classification")
    torch.manual_seed(0)
    model = build_plugin_host().registry.build_architecture(
        "graph-classifier", in_channels=g.num_features, hidden_channels=16, out_channels=g.num_classes, num_layers=3
    )
    outputs = run_model(model.eval(), g)
    assert list(outputs.embeddings)[-1] == outputs.last_hidden_layer() == "encoder.convs.2"


@pytest.mark.slow
def test_layer_chooses_what_is_shown_and_refuses_a_layer_the_model_lacks(sbm_checkpoint, tmp_path, capsys):
    from gnneval.cli import main

    args = ["evaluate", str(sbm_checkpoint), "--pruner", "structured", "--sparsity", "0.5", "--no-bench",
            "--no-progress", "--visualisers", "umap"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "a"), "--layer", "convs.1"]) == 0
    printed = capsys.readouterr().out
    assert "layer 'convs.1' (chosen with --layer)" in printed
    assert (tmp_path / "a" / "umap_convs_1_structured.png").is_file()
    assert main(["show", str(tmp_path / "a"), "--layer", "convs.0"]) == 0
    assert "layer 'convs.0'" in capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b"), "--layer", "convs.9"]) == 2
    err = capsys.readouterr().err
    assert "--layer convs.9" in err and "convs.0, convs.1" in err
