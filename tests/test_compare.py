"""gnneval compare: a one-shot and a fine-tuned run of one checkpoint side by side — the merged table, the tidy
tables with a run column (equal to each run's own), the overlay curves — and what differs between runs said."""

from __future__ import annotations

import json

import pytest

from gnneval.cli import main

BASE = ["--pruner", "magnitude", "--sparsity", "0.5,0.9", "--no-bench", "--no-progress", "--visualisers", "curves"]


@pytest.fixture(scope="module")
def two_runs(sbm_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    assert main(["evaluate", str(sbm_checkpoint), *BASE, "--out", str(root / "oneshot")]) == 0
    assert (
        main(["evaluate", str(sbm_checkpoint), *BASE, "--finetune-epochs", "5", "--out", str(root / "finetuned")]) == 0
    )
    return root / "oneshot", root / "finetuned"


@pytest.mark.slow
def test_compare_writes_its_table_and_curves(two_runs, tmp_path, capsys):
    a, b = two_runs
    out = tmp_path / "cmp"
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--out", str(out), "--wide"]) == 0
    printed = capsys.readouterr().out
    assert "oneshot" in printed and "finetuned" in printed and "magnitude@0.90" in printed
    assert "the runs differ in fine-tuning epochs: oneshot: 0; finetuned: 5" in printed
    assert (out / "compare_curves.png").stat().st_size > 10_000
    doc = json.loads((out / "compare.json").read_text())
    assert doc["columns"][0] == "run" and [r["label"] for r in doc["runs"]] == ["oneshot", "finetuned"]
    for label, path in (("oneshot", a), ("finetuned", b)):
        capsys.readouterr()
        assert main(["show", str(path), "--format", "json"]) == 0
        own = json.loads(capsys.readouterr().out)["rows"]
        assert [{k: v for k, v in r.items() if k != "run"} for r in doc["rows"] if r["run"] == label] == own
    assert (out / "compare.csv").read_text().splitlines()[0].startswith("run,variant,pruner,sparsity")
    # the same folder again is refused, then replaced when told to
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 2
    assert "holds a comparison already" in capsys.readouterr().err
    assert main(["compare", str(a), str(b), "--out", str(out), "--overwrite", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("run,variant,")


@pytest.mark.slow
def test_another_dataset_is_said(two_runs, shared_datasets, tmp_path, capsys):
    other = tmp_path / "cora"
    assert main(["evaluate", "zoo/gcn_cora.pt", *BASE, "--data-root", str(shared_datasets), "--out", str(other)]) == 0
    capsys.readouterr()
    assert main(["compare", str(two_runs[0]), str(other), "--out", str(tmp_path / "c")]) == 0
    printed = capsys.readouterr().out
    assert "the runs differ in dataset: oneshot: sbm; cora: Cora" in printed
    assert "2 different checkpoints" in printed


def test_one_run_is_refused(two_runs, capsys):
    assert main(["compare", str(two_runs[0])]) == 2
    assert "needs two or more runs" in capsys.readouterr().err
