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
    assert len(ok) == 8 and len(failed) == 1 and "corrupt.pt" in failed[0]["checkpoint"]
    assert "\n" not in failed[0]["reason"] and failed[0]["reason"]
    for r in ok:
        assert 0 <= r["acc@0.5"] <= 1 and r["auc"] is not None and r["max_sparsity_within_tol"] in (0, 0.5, 0.9)
        assert r["sim@0.5"] is not None
    csv_text = (out / "leaderboard.csv").read_text()
    assert csv_text.count("\n") == 10 and "acc@0.9" in csv_text
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
        code = main(["batch", str(zoo / "manifest.json"), "--out", str(out), "--executor", "ray", *ARGS])
        assert code == 1  # the corrupt checkpoint's task fails; the others are reported
        board = json.loads((out / "leaderboard.json").read_text())
        assert sum(r["status"] == "ok" for r in board["rows"]) == 8
        assert any(r["status"] == "failed" and "corrupt.pt" in r["checkpoint"] for r in board["rows"])
        runs = list(out.glob("runs/*/run.h5"))
        assert len(runs) == 4  # written by the driver from what the tasks returned
    finally:
        ray.shutdown()
