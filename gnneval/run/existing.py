"""A run folder that already holds a run: never replaced silently.

``evaluate --out DIR`` into a folder with a ``run.h5`` adds its variants to that run when it evaluates the same
checkpoint (sha256) with the same seed on the same dataset and split — so a second pruner can be added later,
and every picture and the report are redrawn over all variants — and refuses, in one line saying what differs,
otherwise.  ``--overwrite`` replaces the run, and the files it had drawn go with it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gnneval.core.errors import UsageError
from gnneval.core.records import RunResult

RUN_FILE = "run.h5"


def existing_run(out_dir: Path, overwrite: bool) -> RunResult | None:
    """The run stored in ``out_dir``, or None: none there, or (with ``overwrite``) one gnneval cannot read.
    Nothing is removed here: :func:`clear` replaces it once the new run is ready to be written."""
    from gnneval.store.hdf5 import read_run

    if not (out_dir / RUN_FILE).exists():
        return None
    try:
        return read_run(out_dir / RUN_FILE)
    except UsageError:
        if overwrite:
            return None
        raise UsageError(f"--out {out_dir} holds a run.h5 gnneval cannot read; choose another --out, or pass "
                         "--overwrite to replace it") from None  # fmt: skip


def clear(out_dir: Path, old: RunResult | None) -> None:
    """Remove a stored run and every file it had drawn or exported (only what gnneval wrote)."""
    for path in old.files.values() if old is not None else []:
        p = Path(path)
        if p.is_file() and p.resolve().parent == out_dir.resolve():
            p.unlink()
    for sub in ("onnx", "checkpoints"):
        if (out_dir / sub).is_dir():
            shutil.rmtree(out_dir / sub)
    (out_dir / RUN_FILE).unlink(missing_ok=True)


def refuse_if_different(old: RunResult, out_dir: Path, **now: Any) -> None:
    """One line naming every way this run differs from the stored one (keys: checkpoint_sha256, seed, seeds, dataset,
    split, dataset_options, transform, task)."""
    p = old.provenance
    stored = {"checkpoint_sha256": p.checkpoint_sha256, "seed": p.seed, "dataset": p.dataset, "task": p.task,
              "seeds": list(p.settings.get("seeds") or [p.seed]),
              "split": p.resolved.get("split"),
              "dataset_options": p.settings.get("dataset_options") or {}, "transform": p.settings.get("transform")}  # fmt: skip
    differs = [key.replace("_", " ") for key, value in now.items() if key in stored and stored[key] != value]
    if differs:
        raise UsageError(f"--out {out_dir} holds another run (it differs in: {', '.join(differs)}); choose another "
                         "--out, or pass --overwrite to replace it")  # fmt: skip


def remove_stale(out_dir: Path, before: dict[str, str], now: dict[str, str]) -> list[str]:
    """Delete the files an earlier drawing left that this one did not write again (a picture never stays beside
    a run.h5 it was not drawn from); returns their names."""
    keep = {Path(p).resolve() for p in now.values()}
    gone = []
    for path in before.values():
        p = Path(path)
        if p.is_file() and p.resolve() not in keep and p.resolve().parent == out_dir.resolve() and p.name != RUN_FILE:
            p.unlink()
            gone.append(p.name)
    return gone
