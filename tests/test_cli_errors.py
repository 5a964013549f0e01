"""Bad input: one clear line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "zoo" / "gcn_cora.pt"


def gnneval(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gnneval", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env={**os.environ, "COLUMNS": "200"},
        timeout=300,
    )


def assert_one_line_error(res: subprocess.CompletedProcess, *needles: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("gnneval: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_missing_checkpoint(tmp_path):
    res = gnneval("evaluate", str(tmp_path / "nope.pt"), "--pruner", "structured")
    assert_one_line_error(res, "does not exist")


_JUNK = random.Random(0).randbytes(4096)
# junk whose ninth byte is safetensors' "{" but whose header length is past the format's cap
_JUNK_BRACE = b"\xa7\x31\x00\x9c\x02\xee\x10\x7f{" + _JUNK[9:]


@pytest.mark.slow
@pytest.mark.parametrize("content", [b"", _JUNK, _JUNK_BRACE, b"hello, this is text\n", b"PK\x03\x04broken-zip"])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    res = gnneval("evaluate", str(path), "--pruner", "structured", "--out", str(tmp_path / "run"))
    line = assert_one_line_error(res)
    assert "not a checkpoint" in line or "empty" in line


@pytest.mark.slow
def test_truncated_safetensors(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"conv1.lin.weight": torch.ones(16, 1433), "conv1.bias": torch.zeros(16)}, str(path))
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # the header is whole, the tensors' bytes are not
    res = gnneval("evaluate", str(path), "--pruner", "structured", "--out", str(tmp_path / "run"))
    line = assert_one_line_error(res)
    assert "looks like safetensors but does not load" in line and "truncated" in line


@pytest.mark.slow
def test_wrong_type_torch_file(tmp_path):
    import torch

    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    res = gnneval("evaluate", str(path), "--pruner", "structured", "--out", str(tmp_path / "run"))
    assert_one_line_error(res, "not a checkpoint that gnneval can read", "native")


def test_unknown_pruner_suggests_close_names():
    res = gnneval("evaluate", str(ZOO), "--pruner", "structurd")
    assert_one_line_error(res, "unknown pruner 'structurd'", "did you mean 'structured'", "available:")


@pytest.mark.parametrize(
    "value,needle",
    [
        ("1.0", "outside [0, 1)"),
        ("-0.1", "outside [0, 1)"),
        ("0.5,abc", "'abc' is not a number"),
        ("1.5", "outside [0, 1)"),
    ],
)
def test_bad_sparsity(value, needle):
    res = gnneval("evaluate", str(ZOO), "--pruner", "structured", f"--sparsity={value}")
    assert_one_line_error(res, needle)


@pytest.mark.slow
def test_unknown_dataset(tmp_path):
    res = gnneval("evaluate", str(ZOO), "--pruner", "structured", "--dataset", "Coraa", "--out", str(tmp_path / "r"))
    assert_one_line_error(res, "unknown dataset 'Coraa'", "did you mean 'Cora'")


def test_missing_argument_is_one_line():
    res = gnneval("evaluate", str(ZOO))
    assert_one_line_error(res, "--pruner")


@pytest.mark.slow
def test_pickle_that_runs_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "gnneval-checkpoint", "payload": Evil()}, f)
    res = gnneval("evaluate", str(path), "--pruner", "structured", "--out", str(tmp_path / "run"))
    assert_one_line_error(res, "weights_only=True", "--trust")
    assert not marker.exists()


def test_debug_shows_the_traceback(tmp_path):
    res = gnneval("--debug", "evaluate", str(tmp_path / "nope.pt"), "--pruner", "structured")
    assert res.returncode != 0 and "Traceback" in res.stderr


def test_a_mistyped_flag_gets_the_closest_one():
    res = gnneval("evaluate", str(ZOO), "--pruner", "magnitude", "--sparsty", "0.5")
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "--sparsty: did you mean --sparsity?" in res.stderr
    res = gnneval("batch", str(ZOO.parent), "--pruner", "magnitude", "--out", "x", "--tranform", "a")
    assert res.returncode == 2 and "--tranform: did you mean --transform?" in res.stderr


def test_a_metric_named_by_a_part_gets_every_name_that_holds_it():
    res = gnneval("evaluate", str(ZOO), "--pruner", "magnitude", "--metrics", "cka")
    head = res.stderr.split("available")[0]
    assert res.returncode == 2 and "did you mean" in head and "'linear-cka'" in head and "'rbf-cka'" in head
