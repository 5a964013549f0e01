"""``--track tensorboard[=LOGDIR]``: scalars per pruner (``<pruner>/<metric>``, the sparsity asked for in
percent as the step, the dense model at step 0), the settings as text, and the shown layer's embeddings of the
dense model and of every variant in the projector format (a seeded sample, class labels and predictions as
metadata).  Default log folder: ``<run folder's parent>/tensorboard/<run folder>``, so ``tensorboard --logdir
<parent>/tensorboard`` shows every run side by side."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gnneval.plugin import RunInfo, RunResult, Tracker, VariantResult, hookimpl

from .common import repeated_rows, require, series


class TensorBoardTracker(Tracker):
    """Logs the run's scalars and the shown layer's embeddings (projector) to TensorBoard event files.

    Args:
        target: the log folder; None: ``<run folder's parent>/tensorboard/<run folder name>``.
        embeddings: points of the shown layer written to the projector per variant (a seeded sample; 0: none).
    """

    def __init__(self, *, target: str | None = None, embeddings: int = 2000) -> None:
        super().__init__(target=target)
        require("tensorboard", "tensorboard", "tensorboard")
        self.embeddings = int(embeddings)

    def start(self, run: RunInfo) -> None:
        from torch.utils.tensorboard import SummaryWriter

        out = Path(run.out_dir).resolve()
        self.logdir = Path(self.target) if self.target else out.parent / "tensorboard" / out.name
        self.writer = SummaryWriter(log_dir=str(self.logdir))
        self.writer.add_text("settings", "```\n" + json.dumps(run.settings, indent=1, default=str) + "\n```")

    def log_variant(self, variant: VariantResult, run: RunResult) -> None:
        if variant.seed is None:
            self._log(series(run, variant))

    def _log(self, rows) -> None:  # noqa: ANN001
        for pruner, step, scalars in rows:
            for key, value in scalars.items():
                self.writer.add_scalar(f"{pruner}/{key}", value, global_step=step)

    def finish(self, result: RunResult, run_dir: Path) -> None:
        self._log(repeated_rows(result))
        layer = result.shown_layer()
        if self.embeddings > 0 and layer is not None:
            self._projector(result.summarised(), layer)
        self.writer.flush()
        self.writer.close()

    def _projector(self, run: RunResult, layer: str) -> None:
        n = run.graph.y.shape[0]
        pick = np.sort(np.random.default_rng(run.provenance.seed).choice(n, min(n, self.embeddings), replace=False))
        for v in run.variants:
            if not v.ok or v.outputs is None or layer not in v.outputs.embeddings:
                continue
            x = np.asarray(v.outputs.embeddings[layer])
            if x.shape[0] != n:  # graph classification: node embeddings, graph labels; the projector needs one each
                continue
            meta = [[str(int(run.graph.y[i])), str(int(v.outputs.predictions[i]))] for i in pick]
            self.writer.add_embedding(x[pick], metadata=meta, metadata_header=["class", "prediction"],
                                      tag=f"{v.id}/{layer}".replace("@", "_at_"))  # fmt: skip


@hookimpl
def gnneval_register_trackers(register):
    register.add_tracker(
        "tensorboard", TensorBoardTracker, description="TensorBoard: scalars per pruner, embeddings in the projector"
    )
