"""``--track wandb[=PROJECT]``: the run as a Weights & Biases run — the settings as its config, one series per
pruner (``<pruner>/<metric>`` against ``<pruner>/sparsity``, the sparsity asked for in percent, the dense model
at 0), the repeats of ``--seeds`` as their mean and ``_sd``, and the report as a file.  **Offline** unless the
environment says otherwise (``WANDB_MODE``): the run is written under ``<run folder's parent>/wandb/`` and
``wandb sync`` uploads it later."""

from __future__ import annotations

import os
from pathlib import Path

from gnneval.plugin import RunInfo, RunResult, Tracker, VariantResult, hookimpl

from .common import repeated_rows, require, series


class WandbTracker(Tracker):
    """Logs the run to Weights & Biases, offline by default.

    Args:
        target: the project; None: ``gnneval``.
        entity: the W&B entity (team or user); None: the account's default.
    """

    def __init__(self, *, target: str | None = None, entity: str | None = None) -> None:
        super().__init__(target=target)
        require("wandb", "wandb", "wandb")
        self.entity = entity

    def start(self, run: RunInfo) -> None:
        import wandb

        os.environ.setdefault("WANDB_SILENT", "true")
        parent = Path(run.out_dir).resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        self.mode = os.environ.get("WANDB_MODE", "offline")
        self.run = wandb.init(project=self.target or "gnneval", entity=self.entity, name=Path(run.out_dir).name,
                              config=run.settings, dir=str(parent), mode=self.mode, reinit="create_new")  # fmt: skip
        for pruner in run.pruners:
            self.run.define_metric(f"{pruner}/sparsity")
            self.run.define_metric(f"{pruner}/*", step_metric=f"{pruner}/sparsity")

    def log_variant(self, variant: VariantResult, run: RunResult) -> None:
        if variant.seed is None:
            self._log(series(run, variant))

    def _log(self, rows) -> None:  # noqa: ANN001
        for pruner, step, scalars in rows:
            self.run.log({f"{pruner}/sparsity": step, **{f"{pruner}/{k}": v for k, v in scalars.items()}})

    def finish(self, result: RunResult, run_dir: Path) -> None:
        self._log(repeated_rows(result))
        report = result.files.get("report")
        if report and Path(report).is_file():
            self.run.save(str(report), base_path=str(Path(report).parent), policy="now")
        self.run.finish()


@hookimpl
def gnneval_register_trackers(register):
    register.add_tracker(
        "wandb", WandbTracker, description="Weights & Biases (offline unless WANDB_MODE says otherwise)"
    )
