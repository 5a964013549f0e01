"""--split FILE: a model trained on its own split evaluates on that split — to its training-time test accuracy —
and the split used, and where it came from, are printed and stored; a bad split file is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gnneval.cli import main
from gnneval.store.hdf5 import read_run


@pytest.fixture(scope="module")
def trained_on_own_split(tmp_path_factory):
    from gnneval.builtin.datasets.synthetic import make_sbm
    from gnneval.model.forward import run_model
    from gnneval.plugin import DatasetRef, GraphData
    from gnneval.store.checkpoints import save_checkpoint
    from gnneval.testing import small_model

    folder = tmp_path_factory.mktemp("own-split")
    data = make_sbm(seed=0)
    n = int(data.y.shape[0])
    order = np.random.default_rng(5).permutation(n)
    parts = {"train": order[: n // 5], "val": order[n // 5 : n // 3], "test": order[n // 3 :]}
    for name, idx in parts.items():
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.from_numpy(idx)] = True
        setattr(data, f"{name}_mask", mask)
    graph = GraphData("sbm", "node-classification", data, 32, 4, "generated", split="own")
    model = small_model(graph, epochs=40)
    pred = run_model(model, graph).predictions
    acc = float((pred[parts["test"]] == data.y.numpy()[parts["test"]]).mean())
    kwargs = {"in_channels": 32, "hidden_channels": 32, "out_channels": 4, "num_layers": 2}
    ckpt = save_checkpoint(folder / "own.pt", model=model, architecture="gcn", architecture_kwargs=kwargs,
                           task="node-classification", dataset=DatasetRef("sbm", loader="sbm", split="seeded"),
                           metrics={"accuracy.test": acc}, training={"seed": 0})  # fmt: skip
    split = folder / "split.json"
    split.write_text(json.dumps({k: v.tolist() for k, v in parts.items()}))
    masks = folder / "split.pt"
    torch.save({k: getattr(data, f"{k}_mask") for k in parts}, masks)
    return ckpt, split, masks, acc


ARGS = ["--pruner", "magnitude", "--sparsity", "0.5", "--no-bench", "--no-progress", "--visualisers", "curves",
        "--metrics", "accuracy"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("which", ["json", "pt"])
def test_the_users_split_gives_the_training_time_test_accuracy(trained_on_own_split, tmp_path, capsys, which):
    ckpt, split_json, split_pt, acc = trained_on_own_split
    split = split_json if which == "json" else split_pt
    assert main(["evaluate", str(ckpt), *ARGS, "--out", str(tmp_path / "run"), "--split", str(split)]) == 0
    err = capsys.readouterr().err
    assert f"split: from {split.name}" in err and "matches the recorded" in err
    run = read_run(tmp_path / "run")
    assert run.dense.metrics["accuracy.test"] == pytest.approx(acc, abs=1e-9)
    assert run.provenance.resolved["split"].startswith(f"from {split.name}")
    assert run.dense.metrics["accuracy.test_n"] == len(json.loads(split_json.read_text())["test"])


@pytest.mark.slow
def test_without_it_the_loaders_split_is_said_to_be_the_loaders(trained_on_own_split, tmp_path, capsys):
    ckpt, *_ = trained_on_own_split
    assert main(["evaluate", str(ckpt), *ARGS, "--out", str(tmp_path / "run")]) == 0
    assert "(the dataset loader's; --split FILE gives the one the model was trained with)" in capsys.readouterr().err


def test_a_bad_split_file_is_one_line(trained_on_own_split, tmp_path, capsys):
    ckpt, split_json, _pt, _acc = trained_on_own_split
    parts = json.loads(split_json.read_text())
    bad = tmp_path / "overlap.json"
    bad.write_text(json.dumps({**parts, "test": parts["test"] + parts["train"][:3]}))
    assert main(["evaluate", str(ckpt), *ARGS, "--out", str(tmp_path / "run"), "--split", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "3 items are in both 'train' and 'test'" in err[0]
    missing = tmp_path / "nope.json"
    assert main(["evaluate", str(ckpt), *ARGS, "--out", str(tmp_path / "run2"), "--split", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["masks", "indices"])
def test_the_split_stored_in_a_training_dict_is_used(trained_on_own_split, tmp_path, capsys, layout):
    """A training script's dict that keeps its split beside the weights (masks, or Kipf-style idx_* arrays)
    evaluates on that split without --split, to its training-time test accuracy, and says so."""
    from gnneval.load.checkpoint import load_checkpoint
    from gnneval.testing import plugin_host

    ckpt, split_json, _pt, acc = trained_on_own_split
    parts = {k: torch.tensor(v) for k, v in json.loads(split_json.read_text()).items()}
    state = load_checkpoint(ckpt, plugin_host().registry)[0].model.state_dict()
    saved = {"model_state_dict": state, "dataset": "sbm", "hyper_parameters": {"arch": "gcn", "num_layers": 2}}
    if layout == "masks":
        n = sum(len(idx) for idx in parts.values())  # the split covers every node
        for k, idx in parts.items():
            mask = torch.zeros(n, dtype=torch.bool)
            mask[idx] = True
            saved[f"{k}_mask"] = mask
    else:
        saved.update(idx_train=parts["train"], idx_val=parts["val"], idx_test=parts["test"])
    path = tmp_path / "training.pt"
    torch.save(saved, path)
    assert main(["evaluate", str(path), *ARGS, "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "split: stored in the checkpoint training.pt" in err
    run = read_run(tmp_path / "run")
    assert run.dense.metrics["accuracy.test"] == pytest.approx(acc)
    assert run.provenance.resolved["split"].startswith("stored in the checkpoint training.pt")
