"""A corpus of checkpoints laid out as GNN papers' repositories publish them, each made here from its own
model code: every one must load with no architecture given (or with the user's own class), give exactly the
logits of the model that saved it, and evaluate end to end."""

from __future__ import annotations

import io
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GATConv, GCNConv, GINConv, global_mean_pool

from gnneval._plugins.manager import build_plugin_host
from gnneval.cli import main
from gnneval.core.problems import collecting
from gnneval.load.checkpoint import load_checkpoint
from gnneval.load.inputs import LoadSettings, load_for_evaluation
from gnneval.model.forward import model_inputs
from gnneval.plugin import UsageError
from gnneval.store.hdf5 import read_run


def _loaded(path: Path, data_root: Path, dataset: str, **options):
    host = build_plugin_host()
    req = LoadSettings(checkpoint=path, data_root=str(data_root), dataset=dataset, loader_options=options or None)
    with collecting() as problems:
        return load_for_evaluation(req, host.registry), problems


def _same_logits(original: torch.nn.Module, loaded, graph) -> None:
    original.eval()
    with torch.no_grad():
        want = original(*model_inputs(graph))
        got = loaded.ckpt.model.eval()(*model_inputs(graph))
    assert got.shape == want.shape
    assert torch.equal(got, want) or float((got - want).abs().max()) < 1e-5, float((got - want).abs().max())


class CanonicalGAT(torch.nn.Module):
    """Velickovic et al.'s Cora GAT as torch_geometric's examples/gat.py writes it: 8 heads x 8, then 1 head."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 8, heads: int = 8):
        super().__init__()
        self.conv1 = GATConv(in_channels, hidden, heads=heads, dropout=0.6)
        self.conv2 = GATConv(hidden * heads, out_channels, heads=1, concat=False, dropout=0.6)

    def forward(self, x, edge_index):
        x = F.dropout(x, p=0.6, training=self.training)
        x = F.elu(self.conv1(x, edge_index))
        x = F.dropout(x, p=0.6, training=self.training)
        return self.conv2(x, edge_index)


class TutorialGCN(torch.nn.Module):
    """The PyG graph-classification tutorial's model: 3 x GCNConv, global_mean_pool, dropout, lin."""

    def __init__(self, in_channels: int, hidden_channels: int, num_classes: int):
        super().__init__()
        self.conv1 = GCNConv(in_channels, hidden_channels)
        self.conv2 = GCNConv(hidden_channels, hidden_channels)
        self.conv3 = GCNConv(hidden_channels, hidden_channels)
        self.lin = torch.nn.Linear(hidden_channels, num_classes)

    def forward(self, x, edge_index, batch):
        x = self.conv1(x, edge_index).relu()
        x = self.conv2(x, edge_index).relu()
        x = self.conv3(x, edge_index)
        x = global_mean_pool(x, batch)
        x = F.dropout(x, p=0.5, training=self.training)
        return self.lin(x)


class BnGIN(torch.nn.Module):
    """GIN layers whose MLP linears have no bias, each followed by BatchNorm; a one-layer head in ``mlps``."""

    def __init__(self, in_channels: int, hidden: int, num_classes: int, layers: int = 3):
        super().__init__()
        self.gnn_layers = torch.nn.ModuleList()
        for i in range(layers):
            mlp = torch.nn.Sequential(
                torch.nn.Linear(in_channels if i == 0 else hidden, hidden, bias=False),
                torch.nn.BatchNorm1d(hidden),
                torch.nn.ReLU(),
                torch.nn.Linear(hidden, hidden, bias=False),
                torch.nn.BatchNorm1d(hidden),
            )
            self.gnn_layers.append(GINConv(mlp, train_eps=True))
        self.mlps = torch.nn.ModuleList([torch.nn.Linear(hidden, num_classes)])

    def forward(self, x, edge_index, batch):
        for i, conv in enumerate(self.gnn_layers):
            x = conv(x, edge_index)
            if i < len(self.gnn_layers) - 1:
                x = x.relu()
        return self.mlps[0](global_mean_pool(x, batch))


class Wrapper(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model


def _train(model: torch.nn.Module, graph, epochs: int = 30) -> torch.nn.Module:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    d = graph.data
    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        out = model(*model_inputs(graph))
        F.cross_entropy(out[d.train_mask], d.y[d.train_mask]).backward()
        opt.step()
    return model.eval()


def _dataset(shared_datasets, name: str, transform: str | None = None):
    host = build_plugin_host()
    req = LoadSettings(checkpoint=Path(__file__), data_root=str(shared_datasets), dataset=name)
    from gnneval.core.paths import default_cache_dir
    from gnneval.load.datasets import load_dataset, resolve_data_root
    from gnneval.plugin import DatasetContext, DatasetRef

    graph, _ = load_dataset(
        host.registry, DatasetRef(name), DatasetContext(resolve_data_root(req.data_root), default_cache_dir(), seed=0)
    )
    if transform:
        from dataclasses import replace

        from gnneval.load.transforms import apply_transforms

        graph = replace(graph, data=apply_transforms(graph.data, transform))
    return graph


@pytest.mark.slow
def test_canonical_gat_with_a_one_head_output_layer_loads_with_no_options(shared_datasets, tmp_path, capsys):
    graph = _dataset(shared_datasets, "Cora")
    torch.manual_seed(0)
    model = _train(CanonicalGAT(graph.num_features, graph.num_classes), graph, epochs=5)
    path = tmp_path / "gat_cora.pt"
    torch.save(model.state_dict(), path)
    loaded, _ = _loaded(path, shared_datasets, "Cora")
    assert loaded.ckpt.architecture == "layer-stack"
    notes = " | ".join(loaded.ckpt.notes)
    assert "8 head(s) x 8 channels, heads concatenated" in notes and "1 head(s) x 7 channels, one head" in notes
    assert "elu first guessed" in notes
    _same_logits(model, loaded, loaded.graph)
    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--dataset",
                "Cora",
                "--data-root",
                str(shared_datasets),
                "--pruner",
                "magnitude,structured",
                "--sparsity",
                "0.5",
                "--no-bench",
                "--no-progress",
                "--visualisers",
                "curves",
                "--metrics",
                "accuracy,agreement",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    run = read_run(out)
    assert all(v.ok for v in run.variants), [v.error for v in run.variants]
    assert "layer-stack" in run.provenance.architecture
    assert any("heads concatenated" in n for n in run.provenance.checkpoint_metadata["loader_notes"])
    assert "checkpoint loader 'state-dict': layers: conv1 (gat) -> conv2 (gat)" in capsys.readouterr().err


@pytest.mark.slow
def test_the_pyg_tutorial_graph_classifier_on_mutag(shared_datasets, tmp_path, capsys):
    graph = _dataset(shared_datasets, "MUTAG")
    torch.manual_seed(0)
    model = _train(TutorialGCN(graph.num_features, 64, graph.num_classes), graph, epochs=20)
    path = tmp_path / "tutorial_gcn.pt"
    torch.save(model.state_dict(), path)
    loaded, _ = _loaded(path, shared_datasets, "MUTAG")
    assert loaded.task == "graph-classification" and loaded.ckpt.architecture == "layer-stack"
    assert loaded.ckpt.architecture_kwargs["pool"] == "mean"
    assert any(
        "mean pooling, no activation after the last message-passing layer, first guessed" in n
        for n in loaded.ckpt.notes
    )
    _same_logits(model, loaded, loaded.graph)
    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--dataset",
                "MUTAG",
                "--data-root",
                str(shared_datasets),
                "--pruner",
                "structured,magnitude",
                "--sparsity",
                "0.5",
                "--no-bench",
                "--no-progress",
                "--visualisers",
                "curves",
                "--metrics",
                "accuracy",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    run = read_run(out)
    assert run.provenance.task == "graph-classification" and all(v.ok for v in run.variants)
    # --arch-option changes the assumed pooling
    loaded_add, _ = _loaded(path, shared_datasets, "MUTAG", arch_kwargs={"pool": "add"})
    assert loaded_add.ckpt.architecture_kwargs["pool"] == "add"


def _numpy1_pickle(path: Path) -> None:
    """Rewrite the pickle inside a torch zip file so that numpy scalars name numpy 1's module path
    (``numpy.core.multiarray``), as a checkpoint saved under numpy 1.x does."""
    with zipfile.ZipFile(path) as zin:
        items = [(info, zin.read(info)) for info in zin.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zout:
        for info, data in items:
            if info.filename.endswith("data.pkl"):
                assert b"numpy._core.multiarray\nscalar" in data  # the GLOBAL opcode's module and name
                data = data.replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar")
            zout.writestr(info, data)
    path.write_bytes(buf.getvalue())


def test_bias_free_batchnorm_gin_in_a_training_dict_saved_under_numpy_1(shared_datasets, tmp_path):
    graph = _dataset(shared_datasets, "MUTAG")
    torch.manual_seed(0)
    model = _train(BnGIN(graph.num_features, 32, graph.num_classes), graph, epochs=20)
    path = tmp_path / "gin.pt"
    torch.save({"net": Wrapper(model).state_dict(), "epoch": 89, "acc": np.float64(1.0)}, path)
    _numpy1_pickle(path)
    assert b"numpy.core.multiarray" in zipfile.ZipFile(path).read(
        next(n for n in zipfile.ZipFile(path).namelist() if n.endswith("data.pkl"))
    )
    loaded, _ = _loaded(path, shared_datasets, "MUTAG")
    assert loaded.ckpt.architecture == "layer-stack"
    layers = loaded.ckpt.architecture_kwargs["layers"]
    assert [spec["name"] for spec in layers] == ["gnn_layers.0", "gnn_layers.1", "gnn_layers.2"]
    assert layers[0]["mlp"][0] == ["linear", 7, 32, False] and layers[0]["mlp"][1] == ["batchnorm", 32]
    assert loaded.ckpt.recorded_scores == {"accuracy.test": 1.0}
    _same_logits(model, loaded, loaded.graph)
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--dataset",
                "MUTAG",
                "--data-root",
                str(shared_datasets),
                "--pruner",
                "magnitude,structured",
                "--sparsity",
                "0.3",
                "--no-bench",
                "--no-progress",
                "--visualisers",
                "",
                "--metrics",
                "accuracy",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    run = read_run(tmp_path / "run")
    assert all(v.ok for v in run.variants), [v.error for v in run.variants]


def test_numpy_arrays_in_a_checkpoint_are_still_refused(tmp_path):
    path = tmp_path / "arr.pt"
    torch.save({"net": {"w": torch.zeros(2)}, "hist": np.zeros(3)}, path)
    with pytest.raises(UsageError, match="holds Python objects"):
        load_checkpoint(path, build_plugin_host().registry)


USER_MODEL = '''
import torch
from torch_geometric.nn import GCNConv, global_add_pool


class GCN_3L(torch.nn.Module):
    """Three GCN layers, sum readout, a linear classifier: a user's own graph classifier."""

    def __init__(self, num_features, hidden_channels, num_classes):
        super().__init__()
        self.convs = torch.nn.ModuleList([GCNConv(num_features, hidden_channels),
                                          GCNConv(hidden_channels, hidden_channels),
                                          GCNConv(hidden_channels, hidden_channels)])
        self.classifier = torch.nn.Linear(hidden_channels, num_classes)

    def forward(self, x, edge_index, batch):
        for conv in self.convs:
            x = conv(x, edge_index).relu()
        return self.classifier(global_add_pool(x, batch))
'''


@pytest.mark.slow
def test_the_users_own_class_from_a_file(shared_datasets, tmp_path, capsys):
    (tmp_path / "models.py").write_text(textwrap.dedent(USER_MODEL))
    import importlib.util

    spec = importlib.util.spec_from_file_location("models_for_test", tmp_path / "models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    graph = _dataset(shared_datasets, "MUTAG")
    torch.manual_seed(0)
    model = _train(mod.GCN_3L(7, 64, 2), graph, epochs=20)
    path = tmp_path / "weights.pt"
    torch.save({"model": model.state_dict()}, path)
    arch = f"{tmp_path / 'models.py'}:GCN_3L"
    options = [
        "--arch-option",
        "hidden_channels=64",
        "--arch-option",
        "num_features=7",
        "--arch-option",
        "num_classes=2",
    ]
    loaded, _ = _loaded(
        path,
        shared_datasets,
        "MUTAG",
        arch=arch,
        arch_kwargs={"hidden_channels": 64, "num_features": 7, "num_classes": 2},
    )
    assert (
        loaded.ckpt.metadata["model_class"]["class"] == arch
        and len(loaded.ckpt.metadata["model_class"]["sha256"]) == 64
    )
    _same_logits(model, loaded, loaded.graph)
    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--arch",
                arch,
                *options,
                "--dataset",
                "MUTAG",
                "--data-root",
                str(shared_datasets),
                "--pruner",
                "structured,magnitude",
                "--sparsity",
                "0.5",
                "--no-bench",
                "--no-progress",
                "--visualisers",
                "",
                "--metrics",
                "accuracy",
                "--save-pruned",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    run = read_run(out)
    assert all(v.ok for v in run.variants), [v.error for v in run.variants]
    saved = out / "checkpoints" / "structured@0.50.pt"
    # the saved variant names the class as data: it reloads with the same --arch, and never without it
    assert (
        main(
            [
                "evaluate",
                str(saved),
                "--pruner",
                "magnitude",
                "--sparsity",
                "0.3",
                "--data-root",
                str(shared_datasets),
                "--no-bench",
                "--no-progress",
                "--out",
                str(tmp_path / "again"),
            ]
        )
        == 2
    )
    assert "never imports code a file names" in capsys.readouterr().err
    assert (
        main(
            [
                "evaluate",
                str(saved),
                "--arch",
                arch,
                "--pruner",
                "magnitude",
                "--sparsity",
                "0.3",
                "--data-root",
                str(shared_datasets),
                "--no-bench",
                "--no-progress",
                "--visualisers",
                "",
                "--metrics",
                "accuracy",
                "--out",
                str(tmp_path / "again"),
            ]
        )
        == 0
    )
    again = read_run(tmp_path / "again")
    assert again.dense.metrics["accuracy.test"] == pytest.approx(
        run.variant("structured@0.50").metrics["accuracy.test"]
    )


def test_user_class_mistakes_are_one_line(tmp_path, capsys):
    (tmp_path / "models.py").write_text(textwrap.dedent(USER_MODEL))
    sbm_checkpoint = tmp_path / "weights.pt"
    torch.save({"convs.0.lin.weight": torch.zeros(4, 3)}, sbm_checkpoint)
    code = main(
        [
            "evaluate",
            str(sbm_checkpoint),
            "--arch",
            f"{tmp_path / 'models.py'}:Nope",
            "--pruner",
            "magnitude",
            "--out",
            str(tmp_path / "a"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "defines no class 'Nope'" in err and "GCN_3L" in err and len(err.strip().splitlines()) == 1
    code = main(
        [
            "evaluate",
            str(sbm_checkpoint),
            "--arch",
            f"{tmp_path / 'models.py'}:GCN_3L",
            "--arch-option",
            "hidden=3",
            "--pruner",
            "magnitude",
            "--out",
            str(tmp_path / "b"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot be built with" in err


@pytest.mark.slow
def test_normalised_features_need_the_transform_and_say_so(shared_datasets, tmp_path, capsys):
    graph = _dataset(shared_datasets, "Cora", transform="NormalizeFeatures")
    torch.manual_seed(0)

    class GCN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GCNConv(graph.num_features, 16)
            self.conv2 = GCNConv(16, graph.num_classes)

        def forward(self, x, edge_index):
            x = F.dropout(x, 0.5, self.training)
            x = self.conv1(x, edge_index).relu()
            x = F.dropout(x, 0.5, self.training)
            return self.conv2(x, edge_index)

    model = _train(GCN(), graph, epochs=200)
    with torch.no_grad():
        pred = model(*model_inputs(graph)).argmax(1)
    d = graph.data
    acc = float((pred[d.test_mask] == d.y[d.test_mask]).float().mean())
    path = tmp_path / "gcn_cora_normalised.pt"
    torch.save({"state_dict": model.state_dict(), "test_acc": acc}, path)
    args = [
        "evaluate",
        str(path),
        "--dataset",
        "Cora",
        "--data-root",
        str(shared_datasets),
        "--pruner",
        "magnitude",
        "--sparsity",
        "0.5",
        "--no-bench",
        "--no-progress",
        "--visualisers",
        "",
        "--metrics",
        "accuracy",
    ]
    assert main([*args, "--out", str(tmp_path / "raw")]) == 0
    raw = read_run(tmp_path / "raw")
    warned = [p.message for p in raw.problems if "records accuracy.test" in p.message]
    assert warned and "NormalizeFeatures" in warned[0], raw.problems
    assert raw.dense.metrics["accuracy.test"] < acc - 0.02
    assert main([*args, "--transform", "NormalizeFeatures", "--out", str(tmp_path / "norm")]) == 0
    norm = read_run(tmp_path / "norm")
    assert norm.dense.metrics["accuracy.test"] == pytest.approx(acc, abs=1e-6)
    assert not [p for p in norm.problems if "records accuracy.test" in p.message]
    assert norm.provenance.settings["transform"] == "NormalizeFeatures"
    assert "transformed: NormalizeFeatures" in norm.provenance.dataset_source
    assert "matches the recorded" in capsys.readouterr().err


def test_unknown_transforms_get_the_closest_names(sbm_checkpoint, tmp_path, capsys):
    code = main(
        [
            "evaluate",
            str(sbm_checkpoint),
            "--pruner",
            "magnitude",
            "--transform",
            "NormaliseFeatures",
            "--out",
            str(tmp_path / "a"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'NormalizeFeatures'" in err and len(err.strip().splitlines()) == 1
    code = main(
        [
            "evaluate",
            str(sbm_checkpoint),
            "--pruner",
            "magnitude",
            "--transform",
            "AddSelfLoops(fill=__import__('os'))",
            "--out",
            str(tmp_path / "b"),
        ]
    )
    assert code == 2 and "Python literals" in capsys.readouterr().err


def test_batch_manifest_takes_arch_class_options_and_transform(shared_datasets, tmp_path):
    from gnneval.run.batch_jobs import BatchSettings, evaluate_command, read_manifest

    (tmp_path / "models.py").write_text(textwrap.dedent(USER_MODEL))
    (tmp_path / "w.pt").write_bytes(b"x")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        textwrap.dedent("""
        - path: w.pt
          dataset: MUTAG
          arch: models.py:GCN_3L
          arch_options: {hidden_channels: 64, num_features: 7, num_classes: 2}
          transform: NormalizeFeatures
    """)
    )
    (entry,) = read_manifest(manifest)
    cmd = evaluate_command(entry, BatchSettings(["magnitude"], [0.5], tmp_path / "out"), tmp_path / "out" / "r")
    assert f"{tmp_path / 'models.py'}:GCN_3L" in cmd and "NormalizeFeatures" in cmd
    assert "hidden_channels=64" in cmd
    bad = tmp_path / "bad.yaml"
    bad.write_text("- path: [1, 2]\n")
    with pytest.raises(UsageError, match="'path' must be a string"):
        read_manifest(bad)
