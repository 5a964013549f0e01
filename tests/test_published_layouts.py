"""Published checkpoints, second round: older and other layouts read exactly, and every refusal names the real
reason in one line — never a library's internal exception text.  Every file is built here from its own
layout's model code; nothing is downloaded."""

from __future__ import annotations

import pytest
import torch

from gnneval.cli import main
from gnneval.load.checkpoint import load_checkpoint
from gnneval.testing import plugin_host

INTERNAL = (
    "Traceback",
    "KeyError",
    "IndexError",
    "RuntimeError:",
    "SafetensorError",
    "hasRecord",
    "mat1 and mat2",
    "miniz",
    "PytorchStreamReader",
    "pop from empty",
)
ARGS = ["--pruner", "magnitude", "--sparsity", "0.5", "--no-bench", "--no-progress", "--visualisers", "curves",
        "--metrics", "accuracy"]  # fmt: skip


def _refusal(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    printed = capsys.readouterr().err
    errors = [line for line in printed.splitlines() if line.startswith("gnneval: error:")]
    assert len(errors) == 1, printed  # one line says what is wrong (the loader's decisions may precede it)
    assert not any(word in printed for word in INTERNAL), printed
    return errors[0]


class OldGAT(torch.nn.Module):
    """The canonical two-layer GAT (8 heads x 8, then one head), as torch_geometric <= 2.3 stored it."""

    def __init__(self, c_in: int = 12, c_out: int = 3) -> None:
        from torch_geometric.nn import GATConv

        super().__init__()
        self.conv1, self.conv2 = GATConv(c_in, 8, heads=8), GATConv(64, c_out, heads=1)

    def forward(self, x, edge_index):
        import torch.nn.functional as F

        return self.conv2(F.elu(self.conv1(x, edge_index)), edge_index)


def _old_layout(state: dict, differ: bool = False) -> dict:
    out = {}
    for k, v in state.items():
        if k.endswith(".lin.weight"):
            base = k[: -len(".lin.weight")]
            out[f"{base}.lin_src.weight"] = v.clone()
            out[f"{base}.lin_dst.weight"] = v.clone() + (1.0 if differ else 0.0)
        else:
            out[k] = v
    return out


def test_old_gat_layout_is_inferred_with_exact_logits(tmp_path):
    torch.manual_seed(0)
    model = OldGAT().eval()
    path = tmp_path / "old_gat.pt"
    torch.save(_old_layout(model.state_dict()), path)
    ckpt, loader = load_checkpoint(path, plugin_host().registry)
    assert loader == "state-dict" and ckpt.architecture == "layer-stack"
    assert any("lin_src/lin_dst.weight -> conv1.lin.weight" in n for n in ckpt.notes)
    x, ei = torch.randn(30, 12), torch.randint(0, 30, (2, 90))
    with torch.no_grad():
        assert torch.equal(ckpt.model(x, ei), model(x, ei))


def test_old_gat_with_different_source_and_target_weights_is_refused(tmp_path, capsys):
    torch.manual_seed(0)
    path = tmp_path / "bipartite.pt"
    torch.save(_old_layout(OldGAT().state_dict(), differ=True), path)
    err = _refusal(capsys, "evaluate", str(path), "--dataset", "sbm", *ARGS)
    assert "different lin_src and lin_dst weights (a bipartite GAT)" in err


def test_a_readout_the_tensors_cannot_show_is_named(tmp_path, capsys):
    from torch_geometric.nn import GCNConv

    class Wrapped(torch.nn.Module):  # keys conv.convs.N, a head over two layers' outputs concatenated
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Module()
            self.conv.convs = torch.nn.ModuleList([GCNConv(7, 64), GCNConv(64, 64)])
            self.lin = torch.nn.Linear(128, 2)

    path = tmp_path / "jk.pt"
    torch.save(Wrapped().state_dict(), path)
    err = _refusal(capsys, "evaluate", str(path), "--dataset", "sbm", *ARGS)
    assert "'lin' takes 128 inputs (2 x 64) but 'conv.convs.1' gives 64" in err and "--arch models.py:Class" in err


@pytest.mark.slow
def test_input_size_and_node_level_models_are_refused_before_heavy_work(shared_datasets, tmp_path, capsys):
    from torch_geometric.nn.models import GCN

    torch.manual_seed(0)
    gin = tmp_path / "gin14.pt"
    from test_inferred_assumptions import AuthorsGIN

    torch.save(AuthorsGIN(14, 32, 2).state_dict(), gin)
    err = _refusal(capsys, "evaluate", str(gin), "--dataset", "MUTAG", "--data-root", str(shared_datasets), *ARGS)
    assert "the model takes 14 input features but dataset MUTAG has 7" in err
    node = tmp_path / "gcn_nodes.pt"
    torch.save(GCN(7, 16, num_layers=2, out_channels=2).state_dict(), node)
    err = _refusal(capsys, "evaluate", str(node), "--dataset", "MUTAG", "--data-root", str(shared_datasets), *ARGS)
    assert "is node-level" in err and "one output per node, not per graph" in err


@pytest.mark.parametrize(
    ("name", "make", "said"),
    [
        ("model.ckpt-100.index", lambda p: p.write_bytes(b"\x00\x01junk"), "a TensorFlow checkpoint"),
        ("model.ckpt-100.data-00000-of-00001", lambda p: p.write_bytes(b"abc"), "a TensorFlow checkpoint"),
        ("model.tflite", lambda p: p.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 8), "a TensorFlow Lite"),
        ("w.npy", lambda p: __import__("numpy").save(p, __import__("numpy").ones(3)), "a NumPy array file"),
        ("params.msgpack", lambda p: p.write_bytes(b"\x81\xa1a\x01"), "a JAX/Flax checkpoint"),
        ("model.onnx.data", lambda p: p.write_bytes(b"\x00" * 64), "the external tensor data of an ONNX model"),
        ("broken.pt", lambda p: p.write_bytes(b"PK\x03\x04 truncated"), "not a checkpoint that gnneval can read"),
    ],
)
def test_other_formats_are_named(tmp_path, capsys, name, make, said):
    path = tmp_path / name
    make(path)
    assert said in _refusal(capsys, "evaluate", str(path), "--dataset", "sbm", *ARGS)


def test_a_keras_h5_file_is_named(tmp_path, capsys):
    import h5py

    with h5py.File(tmp_path / "model.h5", "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.create_dataset("dense/kernel", data=[[1.0]])
    assert "a Keras HDF5 model" in _refusal(capsys, "evaluate", str(tmp_path / "model.h5"), *ARGS)


def test_legacy_whole_module_pickle_is_scanned_like_a_zip_one(tmp_path, capsys):
    from torch_geometric.nn.models import GCN

    model = GCN(8, 16, num_layers=2, out_channels=3)
    torch.save(model, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(model, tmp_path / "zip.pt")
    for name in ("legacy.pt", "zip.pt"):
        err = _refusal(capsys, "evaluate", str(tmp_path / name), "--dataset", "sbm", *ARGS)
        assert "refused to load" in err and "torch_geometric.nn.models.basic_gnn.GCN" in err, name


def test_a_class_from_the_saving_script_suggests_code(tmp_path, capsys):
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import torch\nfrom torch_geometric.nn import GCNConv\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.conv1 = GCNConv(32, 4)\n"
        "    def forward(self, x, edge_index):\n        return self.conv1(x, edge_index)\n"
        "if __name__ == '__main__':\n    torch.save(Net(), 'net.pt')\n"
    )
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True)
    err = _refusal(capsys, "evaluate", str(tmp_path / "net.pt"), "--trust", "--dataset", "sbm", *ARGS)
    assert "pickles the class 'Net', defined in the script that saved it" in err and "--code" in err
    out = tmp_path / "run"
    assert main(["evaluate", str(tmp_path / "net.pt"), "--trust", "--code", str(script), "--dataset", "sbm",
                 "--out", str(out), *ARGS]) == 0  # fmt: skip
    assert (out / "run.h5").is_file()


def test_a_module_kept_under_two_names_is_counted_once_and_its_pruning_seen():
    from torch_geometric.nn import GCNConv

    from gnneval.model.counting import count_flops, count_params
    from gnneval.testing import small_graph

    graph = small_graph()

    class Plain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.head = GCNConv(graph.num_features, 64), torch.nn.Linear(64, graph.num_classes)

        def forward(self, x, edge_index):
            return self.head(self.conv(x, edge_index).relu())

    class Aliased(Plain):  # the same modules also under layers.0 / layers.1, called through those names
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList([self.conv, self.head])

        def forward(self, x, edge_index):
            return self.layers[1](self.layers[0](x, edge_index).relu())

    torch.manual_seed(0)
    plain, aliased = Plain(), Aliased()
    aliased.load_state_dict(plain.state_dict(), strict=False)
    for m in (plain, aliased):
        with torch.no_grad():
            m.conv.lin.weight[:, ::2] = 0
            m.head.weight[:, ::2] = 0
    assert count_flops(aliased, graph) == count_flops(plain, graph)
    dense, sparse = count_flops(aliased, graph)
    assert sparse < 0.75 * dense  # half the weights are zero: the sparse kernels' count sees it
    assert count_params(aliased) == count_params(plain)


def test_a_weight_free_layer_run_k_times_is_measured_once():
    """SGC/APPNP-style propagation (one weight-free module applied K times) keeps its last output only; a layer
    with weights run twice keeps both."""
    from torch_geometric.nn import GCNConv, MessagePassing

    from gnneval.model.forward import run_model
    from gnneval.testing import small_graph

    graph = small_graph()

    class Propagate(MessagePassing):
        def __init__(self) -> None:
            super().__init__(aggr="mean")

        def forward(self, x, edge_index):
            return self.propagate(edge_index, x=x)

    class SGCLike(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.prop = Propagate()
            self.conv = GCNConv(graph.num_features, graph.num_features)
            self.out = GCNConv(graph.num_features, graph.num_classes)

        def forward(self, x, edge_index):
            for _ in range(8):
                x = self.prop(x, edge_index)
            x = self.conv(self.conv(x, edge_index).relu(), edge_index)  # a layer with weights, run twice
            return self.out(x, edge_index)

    out = run_model(SGCLike().eval(), graph)
    assert list(out.embeddings) == ["prop", "conv", "conv#2", "out"]
    assert out.embeddings["prop"].shape == (graph.data.num_nodes, graph.num_features)


@pytest.mark.slow
def test_a_model_without_message_passing_says_why_and_layer_captures_a_module(tmp_path, capsys):
    """An MLP has no message-passing layer: the summary says why there is no representation table, and
    --layer captures any module's output (and the dense model's edges are not used: it is named)."""
    import types

    from gnneval._plugins.manager import build_plugin_host
    from gnneval.plugin import DatasetRef, hookimpl
    from gnneval.run.evaluate import EvaluateSettings, Evaluator
    from gnneval.show.console import print_summary
    from gnneval.store.checkpoints import save_checkpoint

    def build(in_channels: int, out_channels: int):
        class MLP(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lin1, self.lin2 = torch.nn.Linear(in_channels, 16), torch.nn.Linear(16, out_channels)

            def forward(self, x, edge_index):
                return self.lin2(self.lin1(x).relu())

        return MLP()

    plugin = types.SimpleNamespace(
        gnneval_register_architectures=hookimpl(lambda register: register.add_architecture("mlp-test", build))
    )
    host = build_plugin_host(extra=[("mlp", plugin)])
    path = save_checkpoint(tmp_path / "mlp.pt", model=build(32, 4), architecture="mlp-test",
                           architecture_kwargs={"in_channels": 32, "out_channels": 4}, task="node-classification",
                           dataset=DatasetRef("sbm", loader="sbm"), metrics={}, training={})  # fmt: skip
    base = dict(checkpoint=path, pruners=["magnitude"], sparsities=[0.5], bench=False, visualisers=[],
                metrics=["accuracy", "linear-cka"])  # fmt: skip
    run = Evaluator(EvaluateSettings(**base, out_dir=tmp_path / "a"), host, show_progress=False).run()
    from rich.console import Console

    console = Console(record=True, width=200)
    print_summary(run, console, tmp_path / "a")
    assert "no representation table: the model has no torch_geometric message-passing layer" in console.export_text()
    run = Evaluator(EvaluateSettings(**base, out_dir=tmp_path / "b", layer="lin1"), host, show_progress=False).run()
    assert (
        list(run.dense.outputs.embeddings) == ["lin1"]
        and "linear-cka.dense" in run.variant("magnitude@0.50").layer_metrics["lin1"]
    )


def test_a_pretrained_molecular_encoder_is_named_for_what_it_reads(tmp_path, capsys):
    """Pre-trained molecular encoders (Hu et al. 2020's layout: atom and bond type embeddings, custom convs with
    edge embeddings) read categorical types, not feature vectors: said, with the way out (their class)."""

    class Conv(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(32, 32)
            self.edge_embedding1, self.edge_embedding2 = torch.nn.Embedding(6, 32), torch.nn.Embedding(3, 32)

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.x_embedding1, self.x_embedding2 = torch.nn.Embedding(120, 32), torch.nn.Embedding(3, 32)
            self.gnns = torch.nn.ModuleList([Conv(), Conv()])

    path = tmp_path / "gcn_supervised.pth"
    torch.save(Encoder().state_dict(), path, _use_new_zipfile_serialization=False)
    err = _refusal(capsys, "evaluate", str(path), "--dataset", "sbm", *ARGS)
    assert "embedding tables (x_embedding1 [120 x 32]" in err and "categorical node and edge types" in err
    assert "--arch models.py:Class" in err


def _malformed(tmp_path):
    """Files no loader should read, each in its own way broken."""
    import pickle
    import zipfile

    files = {}

    def put(name, data: bytes):
        files[name] = tmp_path / name
        files[name].write_bytes(data)

    put("random.pt", bytes(range(256)) * 4)
    put("text.pt", b'{"weights": [1, 2, 3]}')
    put("truncated.pt", b"PK\x03\x04\x14\x00\x00\x00")
    put("pickled_list.pt", pickle.dumps([1, 2, 3]))
    with zipfile.ZipFile(tmp_path / "empty_zip.pt", "w") as z:
        z.writestr("archive/readme.txt", "nothing")
    files["empty_zip.pt"] = tmp_path / "empty_zip.pt"
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    files["tensor.pt"] = tmp_path / "tensor.pt"
    torch.save({"a": 1, "b": "text"}, tmp_path / "plain_dict.pt")
    files["plain_dict.pt"] = tmp_path / "plain_dict.pt"
    torch.save({"conv1.lin.weight": torch.zeros(4, 3, 2)}, tmp_path / "odd_shapes.pt")
    files["odd_shapes.pt"] = tmp_path / "odd_shapes.pt"
    torch.save({"state_dict": {}, "hyper_parameters": {"arch": "gcn"}}, tmp_path / "empty_weights.pt")
    files["empty_weights.pt"] = tmp_path / "empty_weights.pt"
    put("model.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{bad json")
    put("model.onnx", b"\x08\x07garbage-not-a-protobuf")
    return files


def test_every_loader_refuses_malformed_files_without_internal_text(tmp_path, capsys):
    loaders = plugin_host().registry.names("checkpoint-loader")
    assert {"native", "state-dict", "safetensors", "onnx", "torchscript", "pickle"} <= set(loaders)
    for name, path in _malformed(tmp_path).items():
        for loader in [None, *loaders]:
            extra = ["--loader", loader] if loader else []
            err = _refusal(capsys, "evaluate", str(path), *extra, "--dataset", "sbm", *ARGS)
            assert str(path.name) in err or "loader" in err, (name, loader, err)


def test_wrapper_prefixes_at_any_depth_are_removed(tmp_path):
    from torch_geometric.nn.models import GCN

    class Wrapped(torch.nn.Module):  # keys conv.encoder.convs.N...: two wrappers no list of known prefixes has
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Module()
            self.conv.encoder = GCN(12, 16, num_layers=2, out_channels=3)

    torch.manual_seed(0)
    model = Wrapped()
    torch.save(model.state_dict(), tmp_path / "deep.pt")
    ckpt, _ = load_checkpoint(tmp_path / "deep.pt", plugin_host().registry)
    assert ckpt.architecture == "gcn"
    assert sum("removed the wrapper prefix" in n for n in ckpt.notes) == 2
    x, ei = torch.randn(10, 12), torch.randint(0, 10, (2, 30))
    with torch.no_grad():
        assert torch.equal(ckpt.model(x, ei), model.conv.encoder.eval()(x, ei))
