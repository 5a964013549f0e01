"""--out never replaces a run silently: a second pruner is added to the run already there (same checkpoint, seed
and dataset), every picture redrawn over all variants; another checkpoint is refused in one line and leaves the
stored file byte-identical; --overwrite replaces it and no picture of the old run stays."""

from __future__ import annotations

import hashlib

import pytest

from gnneval.cli import main
from gnneval.store.hdf5 import read_run

BASE = ["--sparsity", "0.5", "--no-bench", "--no-progress", "--visualisers", "curves,umap"]


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_second_pruner_is_added_to_the_run(sbm_checkpoint, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["evaluate", str(sbm_checkpoint), "--pruner", "structured", "--out", str(out), *BASE]) == 0
    first = read_run(out)
    assert main(["evaluate", str(sbm_checkpoint), "--pruner", "magnitude", "--out", str(out), *BASE]) == 0
    assert "adding to the run" in capsys.readouterr().err
    run = read_run(out)
    assert [v.id for v in run.variants] == ["dense", "structured@0.50", "magnitude@0.50"]
    assert run.variant("structured@0.50").metrics == first.variant("structured@0.50").metrics  # kept as it was
    assert run.provenance.created == first.provenance.created  # the run's first provenance, the addition beside it
    assert [a["settings"]["pruners"] for a in run.provenance.resolved["additions"]] == [["magnitude"]]
    assert {"umap", "umap-1"} <= set(run.files), run.files  # one UMAP figure per pruner: both drawn
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "structured@0.50" in shown and "magnitude@0.50" in shown
    # the same pruner again: kept, not evaluated twice
    assert main(["evaluate", str(sbm_checkpoint), "--pruner", "magnitude", "--out", str(out), *BASE]) == 0
    assert "already in the run, kept: magnitude@0.50" in capsys.readouterr().err
    assert [v.id for v in read_run(out).variants] == ["dense", "structured@0.50", "magnitude@0.50"]


@pytest.mark.slow
def test_another_checkpoint_is_refused_and_overwrite_replaces(sbm_checkpoint, tmp_path, capsys):
    from conftest import train_sbm_checkpoint

    other = train_sbm_checkpoint(tmp_path / "other.pt", hidden=16, epochs=20)
    out = tmp_path / "run"
    assert main(["evaluate", str(sbm_checkpoint), "--pruner", "structured", "--out", str(out), *BASE]) == 0
    before = _md5(out / "run.h5")
    capsys.readouterr()
    assert main(["evaluate", str(other), "--pruner", "magnitude", "--out", str(out), *BASE]) == 2
    err = capsys.readouterr().err
    assert "holds another run" in err and "checkpoint sha256" in err and "--overwrite" in err
    assert len(err.strip().splitlines()) == 1
    assert _md5(out / "run.h5") == before
    structured_map = out / "umap_convs_0_structured.png"
    assert structured_map.is_file()
    assert main(["evaluate", str(other), "--pruner", "magnitude", "--out", str(out), "--overwrite", *BASE]) == 0
    run = read_run(out)
    assert [v.id for v in run.variants] == ["dense", "magnitude@0.50"]
    assert not structured_map.exists(), "no picture of the replaced run stays beside the new run.h5"


@pytest.mark.slow
def test_another_seed_is_refused(sbm_checkpoint, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["evaluate", str(sbm_checkpoint), "--pruner", "structured", "--out", str(out), *BASE]) == 0
    capsys.readouterr()
    assert (
        main(["evaluate", str(sbm_checkpoint), "--pruner", "magnitude", "--seed", "1", "--out", str(out), *BASE]) == 2
    )
    assert "differs in: seed" in capsys.readouterr().err
