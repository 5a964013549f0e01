"""The dense model's outputs on disk while the variants are measured, at scale.

Every variant's similarity metrics compare it with the dense model's outputs, so those stay for the whole run:
at ogbn-products' size (2.4M nodes, layers 128/128/47 wide) 2.7 GiB of float32 beside everything a pass needs.
Above :data:`gnneval.core.defaults.SPILL_BYTES` they are written once to a scratch folder in the run folder and
read back memory-mapped (``numpy.load(mmap_mode="r")``): the same arrays, value for value and shape for shape
(the metrics' contract is unchanged), but their pages are the file's, read on access and given back after each
variant (:func:`release_pages`), not anonymous memory held through the run.  The folder goes when the variants
are done (:func:`spilled`).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from gnneval.core.mapped import release_pages as _give_back
from gnneval.core.records import VariantOutputs

SCRATCH_PREFIX = ".dense-outputs-"
"""The scratch folder's name in the run folder (removed when the variants are done)."""


def outputs_bytes(outputs: VariantOutputs) -> int:
    """The bytes of ``outputs``' logits and embeddings (arrays that share memory counted once)."""
    seen: list[np.ndarray] = []
    for a in (outputs.logits, *outputs.embeddings.values()):
        if not any(np.shares_memory(a, b) for b in seen):
            seen.append(a)
    return sum(int(a.nbytes) for a in seen)


@contextmanager
def spilled(outputs: VariantOutputs | None, folder: Path, limit: int) -> Iterator[VariantOutputs | None]:
    """``outputs`` as they are when at most ``limit`` bytes (or None), else memory-mapped from a scratch folder
    in ``folder``, removed when the block ends."""
    if outputs is None or outputs_bytes(outputs) <= limit:
        yield outputs
        return
    for left in folder.glob(f"{SCRATCH_PREFIX}*"):  # a killed run's (the run-folder lock keeps out a live one)
        shutil.rmtree(left, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=folder))
    try:
        mapped = _mapped(outputs, scratch)
        del outputs  # this frame lives as long as the block: it must not keep the in-memory arrays alive
        yield mapped
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _mapped(outputs: VariantOutputs, scratch: Path) -> VariantOutputs:
    """``outputs`` with logits and embeddings written to ``scratch`` and memory-mapped back (read-only)."""
    names = {"logits": outputs.logits, **{f"layer{i}": a for i, a in enumerate(outputs.embeddings.values())}}
    mapped = {}
    for name, a in names.items():
        path = scratch / f"{name}.npy"
        np.save(path, np.ascontiguousarray(a))
        mapped[name] = np.load(path, mmap_mode="r")
    layers = {layer: mapped[f"layer{i}"] for i, layer in enumerate(outputs.embeddings)}
    return replace(outputs, logits=mapped["logits"], embeddings=layers)


def release_pages(outputs: VariantOutputs | None) -> None:
    """Give back the pages of ``outputs``' memory-mapped arrays that this process has read
    (:func:`gnneval.core.mapped.release_pages`).  Arrays in memory are left alone."""
    if outputs is not None:
        _give_back(outputs.logits, *outputs.embeddings.values())
