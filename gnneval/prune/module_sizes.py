"""Keeping the sizes modules store in step with their tensors.

After channels are removed (``structured`` pruning) or a pruned checkpoint is loaded at its smaller
shapes, ``nn.Linear.in_features``, torch_geometric's ``Linear.in_channels``, ``BatchNorm.num_features``,
a conv's ``in_channels`` / ``out_channels`` and GAT's ``heads`` must describe the new tensors: some
forward passes read them (GAT reshapes by ``heads`` and ``out_channels``), and so does anyone who
inspects or re-saves the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

PRIMARY_LINEAR = ("lin_l", "lin_rel", "lin")  #: the projection whose shape gives a conv's sizes, in order


def sync_sizes(root: torch.nn.Module) -> None:
    """Set the stored sizes of ``root`` and every module inside it from their current tensors."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.parameter import is_lazy
    from torch_geometric.nn import GATConv, MessagePassing
    from torch_geometric.nn.dense.linear import Linear as PygLinear
    from torch_geometric.nn.norm import BatchNorm as PygBatchNorm

    def width(bn: Any) -> int:
        return int((bn.running_mean if bn.running_mean is not None else bn.weight).shape[0])

    def is_linear(m: Any) -> bool:
        return isinstance(m, (torch.nn.Linear, PygLinear)) and not is_lazy(m.weight) and m.weight.dim() == 2

    for mod in root.modules():
        if isinstance(mod, torch.nn.Linear):
            mod.out_features, mod.in_features = (int(d) for d in mod.weight.shape)
        elif isinstance(mod, PygLinear):
            if is_linear(mod):
                mod.out_channels, mod.in_channels = (int(d) for d in mod.weight.shape)
        elif isinstance(mod, _BatchNorm):
            mod.num_features = width(mod)
        elif isinstance(mod, PygBatchNorm):
            mod.in_channels = width(mod.module)
        elif isinstance(mod, GATConv):
            mod.heads, mod.out_channels = int(mod.att_src.shape[1]), int(mod.att_src.shape[2])
            if is_linear(getattr(mod, "lin", None)):
                mod.in_channels = int(mod.lin.weight.shape[1])
        elif isinstance(mod, MessagePassing) and hasattr(mod, "out_channels"):
            lin = next((getattr(mod, n) for n in PRIMARY_LINEAR if is_linear(getattr(mod, n, None))), None)
            if lin is not None:
                out_c, in_c = (int(d) for d in lin.weight.shape)
                mod.out_channels = out_c
                mod.in_channels = (in_c, in_c) if isinstance(mod.in_channels, tuple) else in_c
