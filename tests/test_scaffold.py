"""`gnneval new-plugin` writes a package whose own tests pass and which installs with its entry point."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gnneval.cli import main


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["pruner", "metric", "visualiser", "checkpoint-loader", "architecture", "dataset-loader", "tracker"]
)
def test_scaffold_tests_pass(kind, tmp_path):
    name = f"demo-{kind.split('-')[0]}"
    assert main(["new-plugin", name, "--kind", kind, "--dir", str(tmp_path)]) == 0
    root = tmp_path / f"gnneval-{name}"
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
        capture_output=True,
        text=True,
        cwd=root,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert " passed" in res.stdout


def test_scaffold_installs_with_its_entry_point(tmp_path):
    assert main(["new-plugin", "demo-install", "--kind", "metric", "--dir", str(tmp_path)]) == 0
    target = tmp_path / "site"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(tmp_path / "gnneval-demo-install"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    eps = next(target.glob("gnneval_demo_install-*.dist-info")) / "entry_points.txt"
    assert "[gnneval]" in eps.read_text() and "demo-install = gnneval_demo_install" in eps.read_text()
    out = subprocess.run(
        [sys.executable, "-m", "gnneval", "plugins"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(target), "COLUMNS": "200"},
    )
    assert "demo-install" in out.stdout and "metric: demo-install" in out.stdout


def test_scaffold_refuses_bad_names_and_existing_folders(tmp_path, capsys):
    assert main(["new-plugin", "Bad Name", "--kind", "pruner", "--dir", str(tmp_path)]) == 2
    assert main(["new-plugin", "ok", "--kind", "pruner", "--dir", str(tmp_path)]) == 0
    assert main(["new-plugin", "ok", "--kind", "pruner", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_hook_reference_is_generated_from_the_specs():
    from pathlib import Path

    from gnneval._plugins.hookdoc import hook_reference

    doc = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"
    assert doc.read_text() == hook_reference(), "docs/hooks.md is stale: run `gnneval hooks --markdown > docs/hooks.md`"
