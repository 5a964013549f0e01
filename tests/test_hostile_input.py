"""Hostile and careless input, each made here by the test: bounded memory and time, no silent data loss,
plugin faults contained, refusals that name the danger."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import subprocess
import sys
import textwrap
import time
import types
import zipfile
from pathlib import Path

import pytest
import torch

from gnneval._plugins.manager import build_plugin_host
from gnneval.cli import main
from gnneval.plugin import Metric, PruneOutcome, Pruner, Visualiser, hookimpl
from gnneval.run.evaluate import EvaluateSettings, Evaluator
from gnneval.run.settings import unique_sparsities, variant_id
from gnneval.store.hdf5 import read_run

REPO = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import json, resource, sys, time
    from pathlib import Path
    import torch, gnneval.builtin.loaders.native, gnneval.builtin.loaders.state_dict  # imports before the clock
    from gnneval._plugins.manager import build_plugin_host
    from gnneval.load.checkpoint import load_checkpoint
    from gnneval.plugin import GnnevalError
    host = build_plugin_host()
    t0 = time.perf_counter()
    try:
        load_checkpoint(Path(sys.argv[1]), host.registry)
        outcome = "loaded"
    except GnnevalError as exc:
        outcome = str(exc)
    # VmHWM: this process's own peak (ru_maxrss would include the forking parent's, inherited across exec)
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
    print(json.dumps({"seconds": time.perf_counter() - t0, "outcome": outcome, "peak_mb": hwm / 1024}))
""")


def _probe(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _native(sbm_checkpoint: Path, tmp_path: Path, name: str, edit) -> Path:
    obj = torch.load(sbm_checkpoint, weights_only=True)
    edit(obj)
    path = tmp_path / name
    torch.save(obj, path)
    return path


@pytest.mark.slow
def test_a_csr_tensor_claiming_a_billion_elements_is_refused_fast_and_small(sbm_checkpoint, tmp_path):
    def claim(obj):
        obj["format_version"] = 2
        obj["pruning"] = {"pruner": "magnitude", "sparsity": 0.9}
        key = next(k for k in obj["state_dict"] if k.endswith("lin.weight"))
        obj["state_dict"][key] = {
            "gnneval-encoding": "csr",
            "shape": [1_000_000, 1000],
            "crow": torch.tensor([0, 1], dtype=torch.int32),
            "col": torch.tensor([3], dtype=torch.int16),
            "values": torch.tensor([1.0]),
        }

    got = _probe(_native(sbm_checkpoint, tmp_path, "csr_bomb.pt", claim))
    assert "--max-params" in got["outcome"] or "do not decode" in got["outcome"], got
    assert got["seconds"] < 2 and got["peak_mb"] < 1024, got


@pytest.mark.slow
@pytest.mark.parametrize("key, value", [("hidden_channels", 400_000), ("num_layers", 100_000)])
def test_architecture_arguments_that_do_not_fit_the_tensors_are_refused_before_building(
    sbm_checkpoint, tmp_path, key, value
):
    def lie(obj):
        obj["architecture"]["kwargs"][key] = value

    got = _probe(_native(sbm_checkpoint, tmp_path, f"{key}.pt", lie))
    assert f"{key}={value} does not fit the stored weights" in got["outcome"], got
    assert got["seconds"] < 2 and got["peak_mb"] < 1024, got


def test_a_yaml_bomb_manifest_is_refused_at_once(tmp_path, capsys):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    manifest = tmp_path / "bomb.yaml"
    manifest.write_text("\n".join(lines + ["checkpoints: [*a8]"]))
    assert manifest.stat().st_size < 600
    t0 = time.perf_counter()
    code = main(["batch", str(manifest), "--pruner", "magnitude", "--out", str(tmp_path / "out")])
    assert code == 2 and time.perf_counter() - t0 < 2
    assert "YAML bomb" in capsys.readouterr().err


def test_corrupted_tensor_bytes_fail_the_checksum(sbm_checkpoint, tmp_path, capsys):
    data = bytearray(sbm_checkpoint.read_bytes())
    with zipfile.ZipFile(sbm_checkpoint) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 16
    for i in range(64):
        data[start + i] ^= 0xFF
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(data))
    code = main(["evaluate", str(bad), "--pruner", "magnitude", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "do not match its stored checksum" in err and len(err.strip().splitlines()) == 1


def test_non_finite_weights_are_refused_by_name_unless_allowed(sbm_checkpoint, tmp_path, capsys):
    def poison(obj):
        key = next(k for k in obj["state_dict"] if k.endswith("lin.weight"))
        obj["state_dict"][key][0, 0] = float("nan")

    path = _native(sbm_checkpoint, tmp_path, "nan.pt", poison)
    args = [
        "evaluate",
        str(path),
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
    assert main([*args, "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "non-finite" in err and "lin.weight" in err and "--allow-nonfinite" in err
    # allowed, the run is stored; its pruned variant (non-finite weights) is refused by name: incomplete, exit 3
    assert main([*args, "--allow-nonfinite", "--out", str(tmp_path / "b")]) == 3
    from gnneval.store.hdf5 import read_run

    run = read_run(tmp_path / "b")
    assert run.dense.ok and [v.id for v in run.variants if not v.ok] == ["magnitude@0.50"]


def test_the_commonest_payload_is_refused_naming_what_it_would_call(tmp_path, capsys):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'canary'}",))

    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(3), "x": Payload()}, path)
    code = main(["evaluate", str(path), "--pruner", "magnitude", "--dataset", "sbm", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "would call posix.system" in err and "run commands" in err
    assert "add_safe_globals" not in err and "weights_only=False" not in err  # never torch's advice
    assert not (tmp_path / "canary").exists()


def test_trust_unpickles_the_file_once_not_once_per_loader(tmp_path):
    from gnneval.load.checkpoint import load_checkpoint
    from gnneval.plugin import UsageError

    log = tmp_path / "ran.txt"

    class Counter:
        def __reduce__(self):
            return (os.system, (f"echo x >> {log}",))

    path = tmp_path / "counted.pt"
    torch.save({"x": Counter()}, path)
    with pytest.raises(UsageError):
        load_checkpoint(path, build_plugin_host().registry, trust=True)
    assert log.read_text().count("x") == 1


def test_two_runs_into_one_folder_never_both_write(sbm_checkpoint, tmp_path, capsys):
    from gnneval.store.run_lock import RunFolderLock

    out = tmp_path / "run"
    with RunFolderLock(out):
        code = main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "magnitude",
                "--sparsity",
                "0.5",
                "--no-bench",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
    err = capsys.readouterr().err
    assert code == 2 and "is being written by another gnneval" in err and not (out / "run.h5").exists()


def test_sparsity_ids_never_collide_or_mislead(sbm_checkpoint, tmp_path):
    assert unique_sparsities([0.5, 0.5, -0.0]) == [0.5, 0.0]
    assert variant_id("m", 0.5, [0.5, 0.501]) != variant_id("m", 0.501, [0.5, 0.501])
    assert variant_id("m", 0.999, [0.999]) == "m@0.999" and variant_id("m", -0.0, [-0.0]) == "m@0.00"
    assert (
        main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "magnitude",
                "--sparsity",
                "0.5,0.5,0.501",
                "--no-bench",
                "--no-progress",
                "--visualisers",
                "curves",
                "--metrics",
                "accuracy",
                "--out",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    ids = [v.id for v in read_run(tmp_path / "run").variants]
    assert ids == ["dense", "magnitude@0.500", "magnitude@0.501"]


def test_identical_files_in_a_batch_are_two_rows(tmp_path):
    from gnneval.run.batch import plan_jobs
    from gnneval.run.batch_jobs import BatchEntry, BatchSettings

    for name in ("a.pt", "b.pt"):
        (tmp_path / name).write_bytes(b"same bytes")
    s = BatchSettings(["magnitude"], [0.5], tmp_path / "out")
    results, todo, _ = plan_jobs([BatchEntry(tmp_path / "a.pt"), BatchEntry(tmp_path / "b.pt")], s)
    assert len(results) == 2 and len({key for _e, key, _d in todo}) == 2


@pytest.mark.slow
def test_a_killed_batch_driver_takes_its_child_with_it(tmp_path):
    driver = textwrap.dedent("""
        import subprocess, sys, time
        from gnneval.run.batch_jobs import die_with_parent
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=die_with_parent)
        print(child.pid, flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True)
    child = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the evaluation child outlived its driver")


def test_a_dash_named_checkpoint_is_a_path_in_batch(tmp_path):
    from gnneval.run.batch_jobs import BatchEntry, BatchSettings, evaluate_command

    cmd = evaluate_command(BatchEntry(Path("-x.pt")), BatchSettings(["magnitude"], [0.5], tmp_path), tmp_path / "r")
    assert cmd[4] == str(Path("-x.pt").resolve()) and cmd[4].startswith("/")


class _Exits(Pruner):
    def prune(self, model, sparsity, ctx):
        sys.exit(0)


class _Nan(Pruner):
    def prune(self, model, sparsity, ctx):
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))
        return PruneOutcome(model=model)


class _Sleepy(Metric):
    def compute(self, inputs):
        time.sleep(30)
        return {"x": 1.0}


class _Escaping(Visualiser):
    def draw(self, ctx):
        return [Path("/etc/passwd")]


@pytest.mark.slow
def test_plugin_faults_are_contained(sbm_checkpoint, tmp_path):
    plugin = types.SimpleNamespace(
        gnneval_register_pruners=hookimpl(
            lambda register: (register.add_pruner("exits", _Exits), register.add_pruner("nan", _Nan))
        ),
        gnneval_register_metrics=hookimpl(lambda register: register.add_metric("sleepy", _Sleepy, default=False)),
        gnneval_register_visualisers=hookimpl(lambda register: register.add_visualiser("escaping", _Escaping)),
    )
    host = build_plugin_host(extra=[("faulty", plugin)])
    s = EvaluateSettings(
        checkpoint=sbm_checkpoint,
        pruners=["exits", "nan", "magnitude"],
        sparsities=[0.5],
        bench=False,
        out_dir=tmp_path / "run",
        metrics=["accuracy", "sleepy"],
        visualisers=["escaping", "curves"],
        plugin_timeout_s=1.0,
    )
    t0 = time.perf_counter()
    result = Evaluator(s, host, show_progress=False).run()
    assert time.perf_counter() - t0 < 25
    msgs = " | ".join(f"{p.where}: {p.message}" for p in result.problems)
    assert "called sys.exit(0)" in result.variant("exits@0.50").error
    assert "non-finite weights" in result.variant("nan@0.50").error
    assert result.variant("magnitude@0.50").ok
    assert "metric 'sleepy'" in msgs and "1 s limit (--plugin-timeout)" in msgs
    assert "/etc/passwd" in msgs and "not a file inside the run folder" in msgs
    assert "escaping" not in result.files
    assert "alt='escaping'" not in (tmp_path / "run" / "report.html").read_text()


def test_a_keyboard_interrupt_keeps_what_is_done_and_says_so(sbm_checkpoint, tmp_path, capsys):
    class Interrupting(Pruner):
        def prune(self, model, sparsity, ctx):
            raise KeyboardInterrupt

    plugin = types.SimpleNamespace(
        gnneval_register_pruners=hookimpl(lambda register: register.add_pruner("interrupting", Interrupting))
    )
    host = build_plugin_host(extra=[("ctrl-c", plugin)])
    s = EvaluateSettings(
        checkpoint=sbm_checkpoint,
        pruners=["magnitude", "interrupting"],
        sparsities=[0.5],
        bench=False,
        out_dir=tmp_path / "run",
        metrics=["accuracy"],
        visualisers=[],
    )
    with pytest.raises(KeyboardInterrupt) as exc:
        Evaluator(s, host, show_progress=False).run()
    assert "2 finished variant(s) (dense, magnitude@0.50) are stored" in exc.value.message
    assert [v.id for v in read_run(tmp_path / "run").variants] == ["dense", "magnitude@0.50"]


def test_bad_out_and_foreign_hdf5_are_one_line(sbm_checkpoint, tmp_path, capsys):
    import h5py

    (tmp_path / "file").write_text("x")
    assert main(["evaluate", str(sbm_checkpoint), "--pruner", "magnitude", "--out", str(tmp_path / "file")]) == 2
    assert "is an existing file, not a folder" in capsys.readouterr().err
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1, 2, 3]
    assert main(["show", str(tmp_path / "other.h5")]) == 2
    err = capsys.readouterr().err
    assert "not a gnneval run" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_fuzzed_checkpoints_and_manifests_never_crash(sbm_checkpoint, tmp_path, capsys):
    """Mutated files: exit status 0 or 2, never a traceback, memory bounded, no canary written."""
    rng = random.Random(0)
    original = sbm_checkpoint.read_bytes()
    for i in range(25):
        data = bytearray(original)
        if i % 3 == 0:
            data = data[: rng.randrange(1, len(data))]
        else:
            for _ in range(rng.randrange(1, 16)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        path = tmp_path / f"m{i}.pt"
        path.write_bytes(bytes(data))
        code = main(
            [
                "evaluate",
                str(path),
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
                "--out",
                str(tmp_path / f"r{i}"),
            ]
        )
        assert code in (0, 2), (i, capsys.readouterr().err[-500:])
    manifest = json.dumps([{"path": "x.pt", "arch_options": {"a": 1}, "dataset": "Cora"}])
    for i in range(25):
        text = list(manifest)
        for _ in range(rng.randrange(1, 6)):
            text[rng.randrange(len(text))] = rng.choice('[]{}":,0a-')
        path = tmp_path / f"m{i}.json"
        path.write_text("".join(text))
        code = main(["batch", str(path), "--pruner", "magnitude", "--out", str(tmp_path / f"b{i}"), "--no-progress"])
        assert code in (0, 1, 2), i  # 1: the batch ran and some checkpoint failed
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 < 4096
    assert not list(tmp_path.glob("canary*"))


class _Swaps(Pruner):
    """Returns a different model: an MLP that ignores the graph."""

    def prune(self, model, sparsity, ctx):
        class MLP(torch.nn.Module):
            def __init__(self, d_in, d_out):
                super().__init__()
                self.lin = torch.nn.Linear(d_in, d_out)

            def forward(self, x, edge_index):
                return self.lin(x)

        return PruneOutcome(model=MLP(ctx.graph.num_features, ctx.graph.num_classes))


def test_a_pruner_that_swaps_the_architecture_is_refused(sbm_checkpoint, tmp_path):
    plugin = types.SimpleNamespace(
        gnneval_register_pruners=hookimpl(lambda register: register.add_pruner("swaps", _Swaps))
    )
    host = build_plugin_host(extra=[("swapper", plugin)])
    s = EvaluateSettings(
        checkpoint=sbm_checkpoint,
        pruners=["swaps"],
        sparsities=[0.5],
        bench=False,
        out_dir=tmp_path / "run",
        metrics=["accuracy"],
        visualisers=[],
    )
    result = Evaluator(s, host, show_progress=False).run()
    assert "not replace the architecture" in result.variant("swaps@0.50").error


def test_onnx_external_data_must_stay_in_the_models_folder(tmp_path, capsys):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.eye(2, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["out"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 2])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 16)
    onnx.save(
        model,
        folder / "m.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="w.bin",
        size_threshold=0,
    )
    proto = onnx.load(str(folder / "m.onnx"), load_external_data=False)
    for entry in proto.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "../secret.bin"
    (folder / "escape.onnx").write_bytes(proto.SerializeToString())
    code = main(
        [
            "evaluate",
            str(folder / "escape.onnx"),
            "--pruner",
            "magnitude",
            "--dataset",
            "sbm",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2 and "outside the model's folder" in capsys.readouterr().err
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    for entry in proto.graph.initializer[0].external_data:
        if entry.key == "location":
            entry.value = "link.bin"
    (folder / "link.onnx").write_bytes(proto.SerializeToString())
    code = main(
        [
            "evaluate",
            str(folder / "link.onnx"),
            "--pruner",
            "magnitude",
            "--dataset",
            "sbm",
            "--out",
            str(tmp_path / "r2"),
        ]
    )
    assert code == 2 and "a symbolic link" in capsys.readouterr().err
