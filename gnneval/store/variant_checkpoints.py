"""``--save-pruned``: every variant (and the dense model) as a native checkpoint beside the run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gnneval.core.contract import DatasetRef, LoadedCheckpoint
from gnneval.core.errors import UsageError
from gnneval.core.records import ShownColumn, VariantResult


def save_variant(
    out_dir: Path,
    v: VariantResult,
    model: Any,
    masks: dict[str, Any],
    ckpt: LoadedCheckpoint,
    task: str,
    dataset: DatasetRef,
    columns: list[ShownColumn],
    training: dict[str, Any],
    source_sha256: str,
    registered: bool,
) -> Path:
    """Write ``checkpoints/<variant>.pt`` (format 2: sparse weights compressed, masks kept) and return it.

    The scores it records are the variant's values of every declared headline column (by metric key),
    so that evaluating the saved file checks itself.  ``registered``: whether the architecture is a
    registered one (a native checkpoint names it, so it must be)."""
    from gnneval.store.checkpoints import save_checkpoint

    if not registered:
        raise UsageError(
            f"architecture '{ckpt.architecture}' is not registered, so a native checkpoint could not rebuild it"
        )
    path = out_dir / "checkpoints" / f"{v.id}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    scores = {
        c.key: float(v.metrics[c.key])
        for c in columns
        if c.role == "headline" and c.level == "variant" and c.key in v.metrics
    }
    save_checkpoint(
        path,
        model=model,
        architecture=ckpt.architecture,
        architecture_kwargs=ckpt.architecture_kwargs,
        model_class=ckpt.metadata.get("model_class"),
        task=task,
        dataset=dataset,
        metrics=scores,
        training=training,
        masks=masks,
        pruning={
            "pruner": v.pruner or "none",
            "sparsity": v.sparsity,
            "seed": training.get("seed", 0),
            "source_sha256": source_sha256,
            "variant": v.id,
        },
    )
    return path
