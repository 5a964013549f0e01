"""Graph-level models: a message-passing encoder, a pooling readout and an MLP head.

``GraphClassifier(in_channels, hidden_channels, out_channels, num_layers, gnn="gin", pool="add",
dropout=0.5)``: the encoder is torch_geometric's ``GIN`` (or ``GCN``/``GraphSAGE``/``GAT``) with
``hidden_channels`` outputs, followed by ReLU, ``global_add_pool`` (or ``mean``/``max``), then
``Linear -> ReLU -> dropout -> Linear``.  It is called as ``model(x, edge_index, batch)`` and returns one
row of logits per graph (Xu et al. 2019 use sum pooling, which is what makes GIN as expressive as 1-WL).
"""

from __future__ import annotations

from gnneval.plugin import hookimpl

ENCODERS = {"gin": "GIN", "gcn": "GCN", "sage": "GraphSAGE", "gat": "GAT"}
POOLS = ("add", "mean", "max")


def build_graph_classifier(
    in_channels: int,
    hidden_channels: int,
    out_channels: int,
    num_layers: int = 3,
    gnn: str = "gin",
    pool: str = "add",
    dropout: float = 0.5,
    **encoder_kwargs,
):
    """Build a graph classifier: a torch_geometric encoder (GIN, GCN, GraphSAGE or GAT), a global pooling and
    a two-layer MLP head, called as ``model(x, edge_index, batch)``.

    Args:
        in_channels: node feature width.
        hidden_channels: width of the encoder and of the head's hidden layer.
        out_channels: number of classes.
        num_layers: message-passing layers in the encoder.
        gnn: the encoder: ``gin``, ``gcn``, ``sage`` or ``gat``.
        pool: ``add``, ``mean`` or ``max`` pooling of the node embeddings.
        dropout: dropout before the head's last layer.
        encoder_kwargs: more keyword arguments for the encoder.
    """
    import torch
    import torch_geometric.nn as pyg_nn
    import torch_geometric.nn.models as models

    if gnn not in ENCODERS:
        raise ValueError(f"unknown encoder '{gnn}'; use one of {', '.join(ENCODERS)}")
    if pool not in POOLS:
        raise ValueError(f"unknown pooling '{pool}'; use one of {', '.join(POOLS)}")
    readout = {"add": pyg_nn.global_add_pool, "mean": pyg_nn.global_mean_pool, "max": pyg_nn.global_max_pool}[pool]

    class GraphClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
            self.encoder = getattr(models, ENCODERS[gnn])(
                in_channels, hidden_channels, num_layers, dropout=dropout, **encoder_kwargs
            )
            self.head = torch.nn.Sequential(
                torch.nn.Linear(hidden_channels, hidden_channels),
                torch.nn.ReLU(),
                torch.nn.Dropout(dropout),
                torch.nn.Linear(hidden_channels, out_channels),
            )

        def reset_parameters(self):
            self.encoder.reset_parameters()
            for m in self.head:
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()

        def forward(self, x, edge_index, batch):
            h = self.encoder(x, edge_index).relu()
            return self.head(readout(h, batch))

    return GraphClassifier()


@hookimpl
def gnneval_register_architectures(register):
    register.add_architecture(
        "graph-classifier",
        build_graph_classifier,
        description="GIN/GCN/GraphSAGE/GAT encoder + add/mean/max pooling + MLP head (graph classification)",
    )
