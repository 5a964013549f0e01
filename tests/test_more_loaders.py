"""Pickled modules (--trust, --code), TorchScript archives, safetensors, numpy scalars in metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gnneval._plugins.manager import build_plugin_host
from gnneval.cli import main
from gnneval.load.checkpoint import load_checkpoint
from gnneval.plugin import UsageError
from gnneval.store.hdf5 import read_run

REG = build_plugin_host().registry
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SBM = [
    "--dataset",
    "sbm",
    "--dataset-option",
    "nodes=300",
    "--dataset-option",
    "features=16",
    "--dataset-option",
    "avg_degree=6",
]


@pytest.fixture(scope="module")
def kit():
    from gnneval.testing import small_graph, small_model

    g = small_graph()
    return g, small_model(g)


def test_numpy_scalars_in_metadata_load_weights_only_but_arrays_do_not(kit, tmp_path):
    _g, model = kit
    path = tmp_path / "np.pt"
    torch.save({"state_dict": model.state_dict(), "epoch": np.int64(7), "test_acc": np.float64(0.9)}, path)
    loaded, loader = load_checkpoint(path, REG)
    assert loader == "state-dict" and loaded.recorded_scores["accuracy.test"] == pytest.approx(0.9)
    bad = tmp_path / "array.pt"
    torch.save({"state_dict": model.state_dict(), "curve": np.zeros(3)}, bad)
    with pytest.raises(UsageError, match="weights_only=True"):
        load_checkpoint(bad, REG)


def test_legacy_non_zip_format(kit, tmp_path):
    _g, model = kit
    path = tmp_path / "legacy.pt"
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=False)
    loaded, loader = load_checkpoint(path, REG)
    assert loader == "state-dict" and loaded.architecture == "gcn"


def test_pickled_module_needs_trust_and_code(kit, tmp_path, capsys):
    import sys

    sys.path.insert(0, str(FIXTURES))
    try:
        import user_model

        torch.manual_seed(0)
        model = user_model.DenseAdjGCN(16, 16, 4)
        path = tmp_path / "whole.pt"
        torch.save(model, path)
    finally:
        sys.path.remove(str(FIXTURES))
        sys.modules.pop("user_model", None)
    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--pruner",
                "magnitude",
                "--sparsity",
                "0.5",
                *SBM,
                "--out",
                str(out),
                "--no-progress",
                "--no-bench",
                "--visualisers",
                "curves",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "weights_only=True" in err and "--trust" in err
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--trust",
                "--pruner",
                "magnitude",
                "--sparsity",
                "0.5",
                *SBM,
                "--out",
                str(out),
                "--no-progress",
                "--no-bench",
                "--visualisers",
                "curves",
            ]
        )
        == 2
    )
    assert "--code" in capsys.readouterr().err
    code = main(
        [
            "evaluate",
            str(path),
            "--trust",
            "--code",
            str(FIXTURES / "user_model.py"),
            "--pruner",
            "magnitude,structured",
            "--sparsity",
            "0.5",
            *SBM,
            "--out",
            str(out),
            "--no-progress",
            "--no-bench",
            "--visualisers",
            "curves",
        ]
    )
    assert code == 0
    run = read_run(out)
    assert run.provenance.checkpoint_loader == "pickle" and run.variant("magnitude@0.50").ok
    assert run.variant("magnitude@0.50").weight_sparsity > 0.45
    # A plain-PyTorch dense-adjacency GCN: Linear -> (A @ ., ReLU) -> Linear is a chain the structured
    # pruner understands, and its check (removal == zeroing, on the data) holds, so it is really shrunk.
    s = run.variant("structured@0.50")
    assert s.ok and s.params < run.dense.params and s.details["check_max_abs_diff"] <= 1e-4


def test_torchscript_archive(kit, tmp_path, capsys):
    g, model = kit
    traced = torch.jit.trace(model, (g.data.x, g.data.edge_index), check_trace=False)
    path = tmp_path / "model.ts"
    traced.save(str(path))
    loaded, loader = load_checkpoint(path, REG)
    assert loader == "torchscript"
    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--pruner",
                "magnitude,structured",
                "--sparsity",
                "0.5",
                *SBM,
                "--out",
                str(out),
                "--no-progress",
                "--no-bench",
                "--visualisers",
                "curves",
            ]
        )
        == 3  # stored, but a pruner refused the model: the exit status says the run is incomplete
    )
    printed = capsys.readouterr().out
    run = read_run(out)
    ref = model(g.data.x, g.data.edge_index).argmax(1).numpy()
    np.testing.assert_array_equal(run.dense.outputs.predictions, ref)
    assert run.variant("magnitude@0.50").ok and run.variant("magnitude@0.50").weight_sparsity > 0.45
    assert not run.variant("structured@0.50").ok and "cannot shrink" in run.variant("structured@0.50").error
    # the refusal, with its reason, is a problem of the run, in the console and in the report
    assert any(p.where == "variant structured@0.50" and "cannot shrink" in p.message for p in run.problems)
    assert "cannot shrink" in printed and "incomplete: 1 variant(s) failed (structured@0.50)" in printed
    assert "cannot shrink" in (out / "report.html").read_text()


def test_safetensors_with_sidecar_and_inferred(kit, tmp_path):
    from safetensors.torch import save_file

    _g, model = kit
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    loaded, loader = load_checkpoint(path, REG)
    assert loader == "safetensors" and "inferred" in loaded.notes[0]
    (tmp_path / "model.safetensors.json").write_text(
        json.dumps(
            {
                "arch": "gcn",
                "kwargs": {"in_channels": 16, "hidden_channels": 32, "out_channels": 4, "num_layers": 2},
                "dataset": "sbm",
                "task": "node-classification",
            }
        )
    )
    loaded, _ = load_checkpoint(path, REG)
    assert "sidecar" in loaded.notes[0] and loaded.dataset.name == "sbm"
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(UsageError, match="safetensors"):
        load_checkpoint(tmp_path / "bad.safetensors", REG)


def test_onnx_model_is_evaluated_and_not_pruned(kit, tmp_path):
    from gnneval.bench.backends import export_onnx

    g, model = kit
    path = tmp_path / "model.onnx"
    export_onnx(model, g, path, exporter="torchscript")
    loaded, loader = load_checkpoint(path, REG)
    assert loader == "onnx" and loaded.prunable is False
    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--pruner",
                "magnitude",
                "--sparsity",
                "0.5",
                *SBM,
                "--out",
                str(out),
                "--no-progress",
                "--backends",
                "torch",
                "--bench-budget",
                "0.05",
                "--visualisers",
                "curves",
            ]
        )
        == 3  # evaluated and stored; the pruner refused it (an ONNX graph keeps no editable weights)
    )
    run = read_run(out)
    np.testing.assert_array_equal(run.dense.outputs.predictions, model(g.data.x, g.data.edge_index).argmax(1).numpy())
    v = run.variant("magnitude@0.50")
    assert not v.ok and "cannot prune this checkpoint" in v.error and "ONNX" in v.error


def test_dgl_pickle_is_refused_with_a_hint(tmp_path):
    # The opening of a pickled DGL module: GLOBAL dgl....GraphConv, EMPTY_TUPLE, NEWOBJ, STOP (never run).
    path = tmp_path / "dgl.pt"
    path.write_bytes(b"\x80\x02cdgl.nn.pytorch.conv.graphconv\nGraphConv\nq\x00)\x81q\x01.")
    with pytest.raises(UsageError, match="DGL module"):
        load_checkpoint(path, REG)


def test_input_size_mismatch_is_one_clear_error(kit, tmp_path, capsys):
    _g, model = kit
    path = tmp_path / "bare.pt"
    torch.save(model.state_dict(), path)  # in_channels 16
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--pruner",
                "magnitude",
                "--dataset",
                "sbm",
                "--dataset-option",
                "features=8",
                "--out",
                str(tmp_path / "r"),
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("gnneval: error:")]
    assert len(errors) == 1 and errors[0] == err[-1]  # what the loader inferred is printed first, then the error
    assert "takes 16 input features but dataset sbm has 8" in errors[0]


def test_dataset_and_task_from_flags_when_the_checkpoint_is_silent(kit, tmp_path, capsys):
    _g, model = kit
    path = tmp_path / "bare.pt"
    torch.save(model.state_dict(), path)
    assert main(["evaluate", str(path), "--pruner", "magnitude", "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "does not record its dataset; pass --dataset NAME" in capsys.readouterr().err
    assert (
        main(
            [
                "evaluate",
                str(path),
                "--pruner",
                "magnitude",
                "--sparsity",
                "0.5",
                *SBM,
                "--task",
                "node-classification",
                "--out",
                str(tmp_path / "r"),
                "--no-progress",
                "--no-bench",
                "--visualisers",
                "curves",
            ]
        )
        == 0
    )
    assert read_run(tmp_path / "r").provenance.task == "node-classification"
