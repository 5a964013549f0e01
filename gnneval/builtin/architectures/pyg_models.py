"""Built-in architectures: torch_geometric's ready-made models, by short name.

A checkpoint names one of these plus its keyword arguments, e.g.
``{"name": "gcn", "kwargs": {"in_channels": 1433, "hidden_channels": 64,
"out_channels": 7, "num_layers": 2, "dropout": 0.5}}``.
"""

from __future__ import annotations

from typing import Any

from gnneval.plugin import hookimpl


def _builder(class_name: str):
    def build(**kwargs: Any):
        import torch_geometric.nn.models as models

        return getattr(models, class_name)(**kwargs)

    build.__name__ = f"build_{class_name.lower()}"
    build.__doc__ = f"Build ``torch_geometric.nn.models.{class_name}(**kwargs)``."
    return build


@hookimpl
def gnneval_register_architectures(register):
    register.add_architecture("gcn", _builder("GCN"), description="torch_geometric GCN (Kipf & Welling 2017)")
    register.add_architecture(
        "sage", _builder("GraphSAGE"), description="torch_geometric GraphSAGE (Hamilton et al. 2017)"
    )
    register.add_architecture("gat", _builder("GAT"), description="torch_geometric GAT (Velickovic et al. 2018)")
    register.add_architecture("gin", _builder("GIN"), description="torch_geometric GIN (Xu et al. 2019)")
