"""`gnneval batch`: leaderboard, failed rows, resuming after SIGKILL, and the Ray executor on a real local cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gnneval.cli import main

SBM_OPTS = {"nodes": 300, "features": 16, "avg_degree": 6}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    import torch

    from gnneval.testing import small_graph, small_model

    root = tmp_path_factory.mktemp("zoo")
    g = small_graph()
    entries = []
    for h in (8, 12, 16, 24):
        model = small_model(g, hidden=h, epochs=30)
        torch.save({"state_dict": model.state_dict(), "dataset": "sbm"}, root / f"gcn_h{h}.pt")
        entries.append({"path": f"gcn_h{h}.pt", "dataset_options": SBM_OPTS})
    (root / "corrupt.pt").write_bytes(b"PK\x03\x04 truncated")
    entries.append({"path": "corrupt.pt"})
    (root / "manifest.json").write_text(json.dumps({"checkpoints": entries}))
    return root


ARGS = [
    "--pruner",
    "structured,magnitude",
    "--sparsity",
    "0.5,0.9",
    "--no-bench",
    "--visualisers",
    "curves",
    "--metrics",
    "accuracy,linear-cka",
    "--no-progress",
]


@pytest.mark.slow
def test_batch_leaderboard_failed_row_and_resume(zoo, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["batch", str(zoo / "manifest.json"), "--out", str(out), "--jobs", "2", *ARGS]) == 1  # one failed
    printed = capsys.readouterr().out
    assert "4 ok (0 already done), 1 failed" in printed
    board = json.loads((out / "leaderboard.json").read_text())
    ok = [r for r in board["rows"] if r["status"] == "ok"]
    failed = [r for r in board["rows"] if r["status"] == "failed"]
    # tidy: one row per checkpoint x variant (dense + 2 pruners x 2 sparsities), the task's own score name
    assert len(ok) == 4 * 5 and len(failed) == 1 and "corrupt.pt" in failed[0]["checkpoint"]
    assert "\n" not in failed[0]["reason"] and failed[0]["reason"]
    for r in ok:
        assert 0 <= r["score"] <= 1 and r["score_name"] == "accuracy.test" and r["score_label"] == "test acc"
        assert r["noisy"] is False and r["noise_reason"] == ""
        assert (r["similarity"] is not None) == (r["variant"] != "dense")
    assert len(board["summary"]) == 8
    for r in board["summary"]:
        assert r["auc"] is not None and r["max_sparsity_within_tol"] in (0, 0.5, 0.9)
    csv_text = (out / "leaderboard.csv").read_text()
    assert csv_text.count("\n") == 22 and csv_text.startswith("checkpoint,sha256,architecture,dataset,task,variant")
    assert (out / "comparison.png").stat().st_size > 10_000
    # Resume: the same command skips every finished checkpoint (matched by content hash and settings).
    assert main(["batch", str(zoo / "manifest.json"), "--out", str(out), "--jobs", "2", *ARGS]) == 1
    assert "4 ok (4 already done), 1 failed" in capsys.readouterr().out
    # Renaming a file does not make it new; changing the settings does.
    (zoo / "gcn_h8.pt").rename(zoo / "renamed.pt")
    manifest = json.loads((zoo / "manifest.json").read_text())
    manifest["checkpoints"][0]["path"] = "renamed.pt"
    (zoo / "manifest.json").write_text(json.dumps(manifest))
    try:
        assert main(["batch", str(zoo / "manifest.json"), "--out", str(out), *ARGS]) == 1
        assert "(3 already done)" in capsys.readouterr().out  # renamed: new path, same content -> new out dir
    finally:
        (zoo / "renamed.pt").rename(zoo / "gcn_h8.pt")
        manifest["checkpoints"][0]["path"] = "gcn_h8.pt"
        (zoo / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.slow
def test_killed_batch_loses_nothing_finished_and_resumes(zoo, tmp_path):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "gnneval",
        "batch",
        str(zoo / "manifest.json"),
        "--out",
        str(out),
        "--jobs",
        "1",
        *ARGS,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(out.glob("runs/*/result.json"))) < 1:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker, mid-batch
    proc.wait()
    finished = {p.parent.name for p in out.glob("runs/*/result.json")}
    assert finished, "nothing finished before the kill"
    for p in out.glob("runs/*/result.json"):
        json.loads(p.read_text())  # never torn
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 1  # the corrupt checkpoint
    assert f"({len(finished)} already done)" in res.stdout
    assert "4 ok" in res.stdout
    assert not list(out.glob("runs/*/*.tmp"))


@pytest.mark.slow
def test_timeout_and_bad_input(zoo, tmp_path, capsys):
    out = tmp_path / "t"
    assert main(["batch", str(zoo / "manifest.json"), "--out", str(out), "--timeout", "0.5", *ARGS]) == 1
    board = json.loads((out / "leaderboard.json").read_text())
    assert any("timed out after 0.5 s" in r["reason"] for r in board["rows"] if r["status"] == "failed")
    assert main(["batch", str(tmp_path / "nope"), "--out", str(out), *ARGS]) == 2
    (tmp_path / "bad.yaml").write_text("- {dataset: Cora}\n")
    assert main(["batch", str(tmp_path / "bad.yaml"), "--out", str(out), *ARGS]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "entry 1 has no 'path'" in err


@pytest.mark.slow
def test_ray_executor_on_a_real_local_cluster(zoo, tmp_path, capsys):
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'gnneval[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "ray"
        code = main(
            [
                "batch",
                str(zoo / "manifest.json"),
                "--out",
                str(out),
                "--executor",
                "ray",
                "--memory-per-job",
                "0.5",
                *ARGS,
            ]
        )
        assert code == 1  # the corrupt checkpoint's task fails; the others are reported
        board = json.loads((out / "leaderboard.json").read_text())
        assert sum(r["status"] == "ok" for r in board["rows"]) == 20
        assert any(r["status"] == "failed" and "corrupt.pt" in r["checkpoint"] for r in board["rows"])
        runs = list(out.glob("runs/*/run.h5"))
        assert len(runs) == 4  # written by the driver from what the tasks returned
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_manifest_entries_pass_options_through_and_run_folders_are_not_checkpoints(zoo, tmp_path, capsys):
    """-o, --transform and per-entry fields reach every evaluate; a folder holding a finished run (with its ONNX
    exports and saved variants) yields no checkpoint rows."""
    from gnneval.store.hdf5 import read_run

    folder = tmp_path / "ckpts"
    folder.mkdir()
    (folder / "gcn.pt").write_bytes((zoo / "gcn_h8.pt").read_bytes())
    (folder / "manifest.json").write_text(json.dumps({"checkpoints": [
        {"path": "gcn.pt", "dataset_options": SBM_OPTS, "options": {"magnitude.scope": "global"},
         "transform": "NormalizeFeatures", "finetune_epochs": 2, "seeds": [0, 1]},
    ]}))  # fmt: skip
    out = tmp_path / "results"
    args = ["--pruner", "magnitude,random", "--sparsity", "0.5", "--visualisers", "curves", "--metrics", "accuracy",
            "--no-progress"]  # fmt: skip
    assert main(["batch", str(folder / "manifest.json"), "--out", str(out), *args, "--format", "csv"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("checkpoint,sha256,architecture,dataset,task,variant")
    (h5,) = out.glob("runs/*/run.h5")
    run = read_run(h5)
    s = run.provenance.settings
    assert s["pruner_options"] == {"magnitude": {"scope": "global"}} and s["transform"] == "NormalizeFeatures"
    assert s["finetune_epochs"] == 2 and s["seeds"] == [0, 1]
    # fine-tuning is seeded: magnitude is repeated too
    assert {v.id for v in run.variants} == {"dense", "magnitude@0.50~s0", "magnitude@0.50~s1", "random@0.50~s0",
                                            "random@0.50~s1"}  # fmt: skip
    board = json.loads((out / "leaderboard.json").read_text())
    random_row = next(r for r in board["rows"] if r["variant"] == "random@0.50")
    assert random_row["repeats"] == 2 and random_row["score_sd"] is not None
    # a batch over a folder that now also holds a run (ONNX exports, saved variants) finds only the checkpoint
    assert main(["evaluate", str(folder / "gcn.pt"), "--pruner", "magnitude", "--sparsity", "0.5", "--save-pruned",
                 "--dataset-option", "nodes=300", "--dataset-option", "features=16", "--dataset-option", "avg_degree=6",
                 "--out", str(folder / "a-run"), "--visualisers", "curves",
                 "--metrics", "accuracy", "--no-progress"]) == 0  # fmt: skip
    assert list((folder / "a-run").rglob("*.onnx")) and list((folder / "a-run").rglob("*.pt"))
    from gnneval.run.batch_jobs import discover

    assert [e.path.name for e in discover(folder, exclude=out)] == ["gcn.pt"]
