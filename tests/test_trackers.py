"""--track: a run logged to MLflow (a SQLite tracking URI in a temporary folder, read back with MlflowClient),
TensorBoard (event files read back with tensorboard's own reader, the projector config written) and W&B
offline (the offline run file holds the metrics); a tracker that raises leaves the run complete and is named."""

from __future__ import annotations

import struct
import types
from pathlib import Path

import pytest

from gnneval.cli import main
from gnneval.plugin import Tracker, hookimpl
from gnneval.store.hdf5 import read_run

BASE = ["--pruner", "magnitude,random", "--sparsity", "0.5,0.9", "--no-bench", "--no-progress",
        "--visualisers", "curves", "--metrics", "accuracy,linear-cka"]  # fmt: skip


@pytest.fixture(scope="module")
def tracked(sbm_checkpoint, tmp_path_factory):
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    root = tmp_path_factory.mktemp("tracked")
    out = root / "runs" / "r1"
    code = main(["evaluate", str(sbm_checkpoint), *BASE, "--seeds", "0,1", "--out", str(out),
                 "--track", f"mlflow=sqlite:///{root / 'ml.db'}", "--track", "tensorboard", "--track", "wandb",
                 "-o", "mlflow.experiment=sbm-test"])  # fmt: skip
    assert code == 0
    return root, out


@pytest.mark.slow
def test_mlflow_run_read_back(tracked):
    from mlflow.tracking import MlflowClient

    root, out = tracked
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'ml.db'}")
    exp = client.get_experiment_by_name("sbm-test")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_name == "r1" and run.info.status == "FINISHED"
    assert run.data.params["pruners"] == '["magnitude", "random"]' and run.data.params["seeds"] == "[0, 1]"
    stored = read_run(out)
    history = client.get_metric_history(run.info.run_id, "magnitude/accuracy.test")
    assert [(m.step, m.value) for m in history] == [
        (0, stored.dense.metrics["accuracy.test"]),
        (50, stored.variant("magnitude@0.50").metrics["accuracy.test"]),
        (90, stored.variant("magnitude@0.90").metrics["accuracy.test"]),
    ]
    mean = stored.summarised().variant("random@0.90")
    random = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "random/accuracy.test")}
    assert random[90] == pytest.approx(mean.metrics["accuracy.test"])
    sd = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "random/accuracy.test_sd")}
    assert sd[90] == pytest.approx(mean.spread["accuracy.test"].sd)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.html", "accuracy_vs_sparsity.png", "run"} <= artifacts
    assert not (Path.cwd() / "mlruns").exists()


@pytest.mark.slow
def test_tensorboard_event_files_read_back(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _root, out = tracked
    logdir = out.parent / "tensorboard" / "r1"
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    stored = read_run(out)
    scalars = {e.step: e.value for e in acc.Scalars("magnitude/accuracy.test")}
    assert scalars[50] == pytest.approx(stored.variant("magnitude@0.50").metrics["accuracy.test"])
    assert scalars[0] == pytest.approx(stored.dense.metrics["accuracy.test"])
    projector = (logdir / "projector_config.pbtxt").read_text()
    assert "dense/" in projector and "magnitude_at_0.50" in projector


def _wandb_records(path: Path) -> list[bytes]:
    """The records of a W&B ``.wandb`` file (LevelDB log format: a 7-byte header, 32 KiB blocks of chunks, each
    ``crc32c (4) | length (2, little-endian) | type (1: full, 2: first, 3: middle, 4: last) | data``)."""
    data, block, records, pending = path.read_bytes(), 32768, [], b""
    pos = 7
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            records.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            records.append(pending + chunk)
        elif kind == 0:
            break
    return records


@pytest.mark.slow
def test_wandb_offline_run_holds_the_metrics(tracked):
    import json

    from wandb.proto import wandb_internal_pb2 as pb

    _root, out = tracked
    (run_file,) = (out.parent / "wandb").glob("offline-run-*/run-*.wandb")
    logged = []
    for raw in _wandb_records(run_file):
        rec = pb.Record()
        rec.ParseFromString(raw)
        if rec.WhichOneof("record_type") == "history":
            logged.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in rec.history.item}
            )
    stored = read_run(out)
    rows = [r for r in logged if r.get("magnitude/sparsity") == 90]
    assert rows and rows[0]["magnitude/accuracy.test"] == pytest.approx(
        stored.variant("magnitude@0.90").metrics["accuracy.test"]
    )


class _Broken(Tracker):
    def log_variant(self, variant, run):
        raise RuntimeError("the tracking server went away")

    def finish(self, result, run_dir):
        raise AssertionError("not called again after it raised")


def test_a_tracker_that_raises_leaves_the_run_complete(sbm_checkpoint, tmp_path):
    from gnneval._plugins.manager import build_plugin_host
    from gnneval.run.evaluate import EvaluateSettings, Evaluator

    plugin = types.SimpleNamespace(
        gnneval_register_trackers=hookimpl(lambda register: register.add_tracker("broken", _Broken))
    )
    host = build_plugin_host(extra=[("broken-tracker", plugin)])
    settings = EvaluateSettings(checkpoint=sbm_checkpoint, pruners=["magnitude"], sparsities=[0.5, 0.9], bench=False,
                                out_dir=tmp_path / "run", visualisers=["curves"], metrics=["accuracy"],
                                trackers=("broken",))  # fmt: skip
    result = Evaluator(settings, host, show_progress=False).run()
    assert [v.id for v in read_run(tmp_path / "run").variants] == ["dense", "magnitude@0.50", "magnitude@0.90"]
    (problem,) = [p for p in result.problems if "tracker 'broken'" in p.where]
    assert "log_variant() raised RuntimeError: the tracking server went away" in problem.message
    assert "not called again" in problem.message
    assert any("tracker 'broken'" in p.where for p in read_run(tmp_path / "run").problems)


def test_an_unknown_tracker_is_one_line(sbm_checkpoint, tmp_path, capsys):
    assert main(["evaluate", str(sbm_checkpoint), *BASE, "--out", str(tmp_path / "r"), "--track", "mlfow"]) == 2
    err = capsys.readouterr().err
    assert "mlfow" in err and "mlflow" in err and not (tmp_path / "r").exists()
