"""The state-dict loader: bare state_dicts and framework checkpoints, inferred architectures, repaired traps."""

from __future__ import annotations

import random

import pytest
import torch

from gnneval._plugins.manager import build_plugin_host
from gnneval.load.checkpoint import load_checkpoint
from gnneval.plugin import UsageError

REG = build_plugin_host().registry


@pytest.fixture(scope="module")
def xe():
    from gnneval.builtin.datasets.synthetic import make_sbm

    d = make_sbm(nodes=200, features=12, seed=3)
    return d.x, d.edge_index


def _same(a, b, xe):
    a.eval()
    b.eval()
    with torch.no_grad():
        torch.testing.assert_close(a(*xe), b(*xe), atol=1e-5, rtol=1e-5)


def _models():
    from torch_geometric.nn.models import GAT, GCN, GIN, GraphSAGE

    torch.manual_seed(0)
    yield "gcn", GCN(12, 16, 2, out_channels=3)
    yield "sage", GraphSAGE(12, 16, 3, out_channels=3)
    yield "gat", GAT(12, 16, 2, out_channels=3, heads=4)
    yield "gin", GIN(12, 16, 2, out_channels=3)
    yield "gcn", GCN(12, 16, 2, out_channels=3, norm="batch_norm")


@pytest.mark.parametrize("arch,model", list(_models()))
def test_bare_state_dict_with_no_architecture_given(arch, model, xe, tmp_path):
    model.eval()
    path = tmp_path / "bare.pt"
    torch.save(model.state_dict(), path)
    loaded, loader = load_checkpoint(path, REG)
    assert loader == "state-dict" and loaded.architecture == arch
    assert "inferred" in loaded.notes[0]
    _same(model, loaded.model, xe)


def test_lightning_style_checkpoint_with_prefix_and_hyper_parameters(xe, tmp_path):
    from torch_geometric.nn.models import GraphSAGE

    torch.manual_seed(1)
    model = GraphSAGE(12, 8, 2, out_channels=3).eval()
    path = tmp_path / "lightning.ckpt"
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
            "epoch": 3,
            "hyper_parameters": {"arch": "GraphSAGE", "dataset": "sbm"},
            "pytorch-lightning_version": "2.4",
        },
        path,
    )
    loaded, _ = load_checkpoint(path, REG)
    assert loaded.architecture == "sage" and loaded.dataset.name == "sbm"
    assert "removed the wrapper prefix 'model.' from every key" in loaded.notes
    _same(model, loaded.model, xe)


class HandGCN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1 = GCNConv(12, 16)
        self.conv2 = GCNConv(16, 3)

    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)


def test_hand_written_two_layer_gcn(xe, tmp_path):
    torch.manual_seed(2)
    model = HandGCN().eval()
    path = tmp_path / "hand.pt"
    torch.save({"module." + k: v for k, v in model.state_dict().items()}, path)
    loaded, _ = load_checkpoint(path, REG)
    assert loaded.architecture == "gcn" and any("conv1.* -> convs.0.*" in n for n in loaded.notes)
    _same(model, loaded.model, xe)


def test_older_pyg_weights_stored_in_by_out(xe, tmp_path):
    torch.manual_seed(3)
    model = HandGCN().eval()
    old = {
        "conv1.weight": model.conv1.lin.weight.detach().t().clone(),
        "conv1.bias": model.conv1.bias.detach(),
        "conv2.weight": model.conv2.lin.weight.detach().t().clone(),
        "conv2.bias": model.conv2.bias.detach(),
    }
    path = tmp_path / "old.pt"
    torch.save(old, path)
    loaded, _ = load_checkpoint(path, REG)
    assert any("older torch_geometric" in n for n in loaded.notes)
    _same(model, loaded.model, xe)


def test_gat_lin_src_lin_dst_keys(xe, tmp_path):
    from torch_geometric.nn.models import GAT

    torch.manual_seed(4)
    model = GAT(12, 16, 2, out_channels=3, heads=2).eval()
    state = {}
    for k, v in model.state_dict().items():
        if k.endswith(".lin.weight"):
            state[k.replace(".lin.weight", ".lin_src.weight")] = v
            state[k.replace(".lin.weight", ".lin_dst.weight")] = v
        else:
            state[k] = v
    path = tmp_path / "gat_old.pt"
    torch.save(state, path)
    loaded, _ = load_checkpoint(path, REG)
    assert loaded.architecture == "gat" and any("lin_src/lin_dst" in n for n in loaded.notes)
    _same(model, loaded.model, xe)


def test_given_architecture_that_does_not_fit_is_one_clear_error(tmp_path):
    from torch_geometric.nn.models import GCN

    path = tmp_path / "gcn.pt"
    torch.save(GCN(12, 16, 2, out_channels=3).state_dict(), path)
    with pytest.raises(UsageError, match="do not fit architecture 'sage'"):
        load_checkpoint(path, REG, options={"arch": "sage"})


def test_uninferrable_weights_ask_for_arch(tmp_path):
    path = tmp_path / "mlp.pt"
    torch.save({"fc.weight": torch.zeros(3, 4), "fc.bias": torch.zeros(3)}, path)
    with pytest.raises(
        UsageError,
        match=r"no message-passing layers gnneval knows among its modules \(fc\); pass the model.s own class with --arch",
    ):
        load_checkpoint(path, REG)


def _as_if_saved_on_cuda(src, dst):
    """Rewrite a checkpoint so its tensors say they were saved on cuda:0, as on a GPU machine."""
    import zipfile

    with zipfile.ZipFile(src) as zin:
        names = zin.namelist()
        pkl = next(n for n in names if n.endswith("data.pkl"))
        data = zin.read(pkl)
        assert b"X\x03\x00\x00\x00cpu" in data
        patched = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
        with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as zout:
            for n in names:
                zout.writestr(zin.getinfo(n), patched if n == pkl else zin.read(n))


def test_tensors_saved_on_cuda_load_on_a_machine_without_gpu(xe, tmp_path):
    from torch_geometric.nn.models import GCN

    torch.manual_seed(5)
    model = GCN(12, 16, 2, out_channels=3).eval()
    torch.save(model.state_dict(), tmp_path / "cpu.pt")
    _as_if_saved_on_cuda(tmp_path / "cpu.pt", tmp_path / "cuda.pt")
    if not torch.cuda.is_available():  # the trap is real: a plain load fails here
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(tmp_path / "cuda.pt", weights_only=True)
    loaded, _ = load_checkpoint(tmp_path / "cuda.pt", REG)
    assert all(p.device.type == "cpu" for p in loaded.model.parameters())
    _same(model, loaded.model, xe)


def test_mutated_files_fail_with_one_clear_line(tmp_path):
    """A simple mutation fuzzer: flipped, truncated and spliced bytes of a real checkpoint."""
    from torch_geometric.nn.models import GCN

    good = tmp_path / "good.pt"
    torch.save(GCN(12, 16, 2, out_channels=3).state_dict(), good)
    data = good.read_bytes()
    rng = random.Random(0)
    for i in range(60):
        b = bytearray(data)
        kind = i % 3
        if kind == 0:
            for _ in range(rng.randint(1, 20)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 1:
            b = b[: rng.randrange(1, len(b))]
        else:
            start = rng.randrange(len(b))
            b[start:start] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        path = tmp_path / f"m{i}.pt"
        path.write_bytes(bytes(b))
        try:
            load_checkpoint(path, REG)
        except UsageError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 2000
