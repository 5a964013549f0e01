"""``layer-stack``: a model described layer by layer as data, for checkpoints whose layout no ready-made
torch_geometric model has — the canonical GAT with a one-head output layer, the PyG tutorial's graph
classifier (``conv1..convN`` + pooling + ``lin``), GIN layers whose MLPs are bias-free ``Linear`` +
``BatchNorm`` under any prefix.  The state_dict loader infers the description from the tensors.

``layer_stack(layers, head=(), pool=None, act="relu", act_last=False)``:

- ``layers``: message-passing layers in call order, each ``{"name": "conv1", "type": "gcn"|"sage"|"gat"|
  "gin"|"graphconv", "in": F, "out": C, ...}``; ``gat`` adds ``heads`` and ``concat``; ``gin`` adds ``mlp``
  (a list of ``["linear", in, out, bias]``, ``["batchnorm", C]`` or ``["relu"]``, mirroring ``nn.<i>``) and
  ``train_eps``; ``sage`` and ``graphconv`` add ``bias``.  ``name`` is the module path the weights use
  (``conv1``, ``convs.0``, ``gnn_layers.2``), so a state_dict loads with no renaming.
- ``head``: linear layers after the last message-passing layer (after pooling for graph
  classification), each ``{"name": "lin", "in": H, "out": C, "bias": True}``, with ``act`` between them.
- ``pool``: ``add``/``mean``/``max``: applied when the model is called with ``batch`` (graph classification);
  a node-level call has no ``batch`` and no pooling.
- ``act``: ``relu``, ``elu`` or ``identity`` (also ``none``: no activation) between layers; ``act_last``: also
  after the last message-passing layer.

Dropout is left out: it is the identity in evaluation, which is all gnneval does with a loaded model
(pruners that retrain use the model as built).
"""

from __future__ import annotations

from typing import Any

from gnneval.plugin import hookimpl

ACTS = ("relu", "elu", "identity")
ACT_ALIASES = {"none": "identity", "linear": "identity"}
POOLS = ("add", "mean", "max")


def _conv(spec: dict[str, Any], self_loops: bool | None = None) -> Any:
    import torch
    from torch_geometric.nn import GATConv, GCNConv, GINConv, GraphConv, SAGEConv

    kind, c_in, c_out = spec["type"], int(spec["in"]), int(spec["out"])
    loops = {} if self_loops is None else {"add_self_loops": bool(self_loops)}
    if kind == "gcn":
        return GCNConv(c_in, c_out, bias=bool(spec.get("bias", True)), **loops)
    if kind == "sage":
        return SAGEConv(c_in, c_out, bias=bool(spec.get("bias", True)), aggr=spec.get("aggr", "mean"))
    if kind == "graphconv":
        return GraphConv(c_in, c_out, bias=bool(spec.get("bias", True)), aggr=spec.get("aggr", "add"))
    if kind == "gat":
        return GATConv(
            c_in,
            c_out,
            heads=int(spec.get("heads", 1)),
            concat=bool(spec.get("concat", True)),
            bias=bool(spec.get("bias", True)),
            **loops,
        )
    if kind == "gin":
        mods = []
        for item in spec["mlp"]:
            if item[0] == "linear":
                mods.append(torch.nn.Linear(int(item[1]), int(item[2]), bias=bool(item[3])))
            elif item[0] == "batchnorm":
                mods.append(torch.nn.BatchNorm1d(int(item[1])))
            else:
                mods.append(torch.nn.ReLU())
        return GINConv(torch.nn.Sequential(*mods), train_eps=bool(spec.get("train_eps", False)))
    raise ValueError(f"layer-stack: unknown layer type '{kind}'")


def _place(root: Any, path: str, module: Any) -> None:
    """Put ``module`` at dotted ``path`` under ``root``, creating ModuleList / Module containers."""
    import torch

    parts = path.split(".")
    node = root
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if not hasattr(node, part) or getattr(node, part) is None:
            node.add_module(part, torch.nn.ModuleList() if nxt.isdigit() else torch.nn.Module())
        node = getattr(node, part)
    last = parts[-1]
    if isinstance(node, torch.nn.ModuleList) and last.isdigit():
        while len(node) <= int(last):
            node.append(torch.nn.Identity())
        node[int(last)] = module
    else:
        node.add_module(last, module)


def build_layer_stack(
    layers: list[dict[str, Any]],
    head: list[dict[str, Any]] | tuple = (),
    pool: str | None = None,
    act: str = "relu",
    act_last: bool = False,
    self_loops: bool | None = None,
) -> Any:
    """Build a model from layers described as data — what inference makes of a state_dict whose layout is no
    registered architecture: message-passing layers in order, then an optional pooling and a linear head.

    Args:
        layers: one dict per message-passing layer: its PyG class name and keyword arguments.
        head: one dict per linear layer after the message passing (``in``/``out`` features).
        pool: graph classification: ``add``, ``mean`` or ``max`` pooling before the head; None for node tasks.
        act: activation between layers: ``relu``, ``elu`` or ``identity`` (``none``: no activation).
        act_last: whether the activation also follows the last message-passing layer.
        self_loops: whether GCN and GAT layers add self-loops (torch_geometric's default, None, adds them; a
            model from DGL, whose layers add none, saw them only if its graph had them).
    """
    import torch
    import torch.nn.functional as F
    import torch_geometric.nn as pyg_nn

    act = ACT_ALIASES.get(str(act).lower(), str(act).lower()) if act is not None else "identity"
    if act not in ACTS:
        raise ValueError(f"layer-stack: unknown act '{act}'; use {', '.join(ACTS)}")
    if pool is not None and pool not in POOLS:
        raise ValueError(f"layer-stack: unknown pool '{pool}'; use {', '.join(POOLS)}")
    activation = {"relu": F.relu, "elu": F.elu, "identity": lambda t: t}[act]
    readout = {"add": pyg_nn.global_add_pool, "mean": pyg_nn.global_mean_pool, "max": pyg_nn.global_max_pool}.get(
        pool or ""
    )

    class LayerStack(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self._convs: list[str] = [str(spec["name"]) for spec in layers]
            self._head: list[str] = [str(spec["name"]) for spec in head]
            for spec in layers:
                _place(self, str(spec["name"]), _conv(spec, self_loops))
            for spec in head:
                _place(
                    self,
                    str(spec["name"]),
                    torch.nn.Linear(int(spec["in"]), int(spec["out"]), bias=bool(spec.get("bias", True))),
                )
            self.in_channels = int(layers[0]["in"])
            self.out_channels = int(head[-1]["out"]) if head else int(layers[-1]["out"])

        def forward(self, x, edge_index, batch=None):  # noqa: ANN001, ANN201
            for i, name in enumerate(self._convs):
                x = self.get_submodule(name)(x, edge_index)
                if i < len(self._convs) - 1 or act_last:
                    x = activation(x)
            if readout is not None and batch is not None:
                x = readout(x, batch)
            for j, name in enumerate(self._head):
                x = self.get_submodule(name)(x)
                if j < len(self._head) - 1:
                    x = activation(x)
            return x

    return LayerStack()


@hookimpl
def gnneval_register_architectures(register):
    register.add_architecture(
        "layer-stack",
        build_layer_stack,
        description="message-passing layers, pooling and a linear head described as data "
        "(inferred from a state_dict's tensors)",
    )
