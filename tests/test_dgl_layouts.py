"""DGL's GraphConv, GATConv, SAGEConv and GINConv state_dicts are read as the torch_geometric layers that compute
the same function.  The ``dgl`` package does not install beside this torch, so each layer is written here
after DGL's own code (``dgl/nn/pytorch/conv/*.py``): its parameter names and shapes, and its maths — the logits
of the model gnneval infers must equal the DGL model's (its graph with self-loops, as DGL's examples add)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gnneval.cli import main
from gnneval.load.checkpoint import load_checkpoint
from gnneval.testing import plugin_host


def _scatter_add(values: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    out = torch.zeros((n, *values.shape[1:]), dtype=values.dtype)
    return out.index_add_(0, index, values)


class GraphConv(torch.nn.Module):
    """DGL's GraphConv, norm='both': D_out^-1/2 on the source, D_in^-1/2 on the target, weight [in, out]."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(c_in, c_out) * 0.3)
        self.bias = torch.nn.Parameter(torch.randn(c_out) * 0.1)

    def forward(self, x, edge_index):
        src, dst = edge_index
        n = x.shape[0]
        d_out = torch.bincount(src, minlength=n).clamp(min=1).float()
        d_in = torch.bincount(dst, minlength=n).clamp(min=1).float()
        h = (x @ self.weight)[src] * d_out[src].pow(-0.5)[:, None]
        return _scatter_add(h, dst, n) * d_in.pow(-0.5)[:, None] + self.bias


class GATConv(torch.nn.Module):
    """DGL's GATConv: fc [H*C, in] without bias, attn_l / attn_r [1, H, C], bias [H*C]; returns [N, H, C]."""

    def __init__(self, c_in: int, c_out: int, heads: int) -> None:
        super().__init__()
        self.h, self.c = heads, c_out
        self.fc = torch.nn.Linear(c_in, heads * c_out, bias=False)
        self.attn_l = torch.nn.Parameter(torch.randn(1, heads, c_out) * 0.3)
        self.attn_r = torch.nn.Parameter(torch.randn(1, heads, c_out) * 0.3)
        self.bias = torch.nn.Parameter(torch.randn(heads * c_out) * 0.1)

    def forward(self, x, edge_index):
        src, dst = edge_index
        n = x.shape[0]
        feat = self.fc(x).view(n, self.h, self.c)
        el, er = (feat * self.attn_l).sum(-1), (feat * self.attn_r).sum(-1)
        e = F.leaky_relu(el[src] + er[dst], 0.2)
        e = (e - e.max()).exp()
        a = e / _scatter_add(e, dst, n)[dst]  # softmax over each target's incoming edges
        return _scatter_add(feat[src] * a[..., None], dst, n) + self.bias.view(1, self.h, self.c)


class SAGEConv(torch.nn.Module):
    """DGL's SAGEConv, 'mean': fc_self(x) + fc_neigh(mean of the in-neighbours) + bias."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.fc_self = torch.nn.Linear(c_in, c_out, bias=False)
        self.fc_neigh = torch.nn.Linear(c_in, c_out, bias=False)
        self.bias = torch.nn.Parameter(torch.randn(c_out) * 0.1)

    def forward(self, x, edge_index):
        src, dst = edge_index
        n = x.shape[0]
        deg = torch.bincount(dst, minlength=n).clamp(min=1).float()[:, None]
        return self.fc_self(x) + self.fc_neigh(_scatter_add(x[src], dst, n) / deg) + self.bias


class GINConv(torch.nn.Module):
    """DGL's GINConv, 'sum': apply_func((1 + eps) x + sum of the in-neighbours); eps a buffer."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.apply_func = torch.nn.Sequential(
            torch.nn.Linear(c_in, c_out), torch.nn.ReLU(), torch.nn.Linear(c_out, c_out)
        )
        self.register_buffer("eps", torch.tensor([0.1]))

    def forward(self, x, edge_index):
        src, dst = edge_index
        return self.apply_func((1 + self.eps) * x + _scatter_add(x[src], dst, x.shape[0]))


class DGLModel(torch.nn.Module):
    """DGL's example models: ``self.layers`` of one kind, ReLU (ELU for GAT) between, GAT's heads flattened."""

    def __init__(self, kind: str, c_in: int = 12, hidden: int = 16, c_out: int = 4) -> None:
        super().__init__()
        if kind == "gat":
            self.layers = torch.nn.ModuleList([GATConv(c_in, 8, 8), GATConv(64, c_out, 1)])
        else:
            cls = {"gcn": GraphConv, "sage": SAGEConv, "gin": GINConv}[kind]
            self.layers = torch.nn.ModuleList([cls(c_in, hidden), cls(hidden, c_out)])
        self.kind = kind

    def forward(self, x, edge_index):
        for i, layer in enumerate(self.layers):
            x = layer(x, edge_index)
            x = x.flatten(1) if self.kind == "gat" and i == 0 else x.mean(1) if self.kind == "gat" else x
            if i < len(self.layers) - 1:
                x = F.elu(x) if self.kind == "gat" else F.relu(x)
        return x


def _graph(n: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    from torch_geometric.utils import to_undirected

    g = torch.Generator().manual_seed(seed)
    ei = to_undirected(torch.randint(0, n, (2, 3 * n), generator=g), num_nodes=n)
    ei = ei[:, ei[0] != ei[1]]
    return torch.randn(n, 12, generator=g), ei


@pytest.mark.parametrize("kind", ["gcn", "gat", "sage", "gin"])
def test_dgl_layers_give_the_dgl_models_logits(tmp_path, kind):
    from torch_geometric.utils import add_self_loops

    torch.manual_seed(0)
    model = DGLModel(kind).eval()
    path = tmp_path / f"dgl_{kind}.pt"
    torch.save(model.state_dict(), path)
    ckpt, _ = load_checkpoint(path, plugin_host().registry)
    assert ckpt.architecture == "layer-stack"
    note = next(n for n in ckpt.notes if n.startswith("DGL layers read as torch_geometric's"))
    assert {"gcn": "GraphConv", "gat": "GATConv", "sage": "SAGEConv", "gin": "GINConv"}[kind] in note
    x, ei = _graph()
    looped = add_self_loops(ei, num_nodes=x.shape[0])[0] if kind in ("gcn", "gat") else ei
    with torch.no_grad():
        assert torch.allclose(ckpt.model(x, ei), model(x, looped), atol=1e-5)
    if kind in ("gcn", "gat"):
        assert ckpt.undecided["self_loops"] == (True, False)


def test_a_linear_stack_named_layers_is_not_taken_for_dgl(tmp_path):
    """``layers.N`` of Linear modules chain as [out, in]: no GraphConv mapping (nothing to infer then)."""
    from gnneval.builtin.loaders.dgl_layouts import from_dgl

    mlp = torch.nn.Module()
    mlp.layers = torch.nn.ModuleList([torch.nn.Linear(12, 16), torch.nn.Linear(16, 4)])
    _state, mapped = from_dgl(mlp.state_dict(), [])
    assert not mapped


@pytest.mark.slow
def test_a_dgl_gcn_evaluates_end_to_end(tmp_path, capsys):
    torch.manual_seed(0)
    model = DGLModel("gcn", c_in=32, hidden=16, c_out=4)
    path = tmp_path / "dgl_gcn.pt"
    torch.save(model.state_dict(), path)
    out = tmp_path / "run"
    assert main(["evaluate", str(path), "--dataset", "sbm", "--pruner", "magnitude,structured", "--sparsity", "0.5",
                 "--no-bench", "--no-progress", "--visualisers", "curves", "--metrics", "accuracy",
                 "--out", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "DGL layers read as torch_geometric's: layers.0 GraphConv" in err and "self_loops" in err
