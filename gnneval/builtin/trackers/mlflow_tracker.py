"""``--track mlflow[=TRACKING_URI]``: the run as an MLflow run — every setting a parameter, one metric series per
pruner (``<pruner>/<metric>``, the sparsity asked for in percent as the step, the dense model at step 0),
the repeats of ``--seeds`` as their mean and ``_sd``, and run.h5, report.html, explorer.html and every picture
as artifacts.  The default tracking URI is a SQLite database beside the run folder
(``sqlite:///<parent>/mlflow.db``, artifacts in ``<parent>/mlartifacts``), never MLflow's deprecated ``./mlruns``
file store."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from gnneval.plugin import RunInfo, RunResult, Tracker, VariantResult, hookimpl

from .common import flat_params, repeated_rows, require, series


class MlflowTracker(Tracker):
    """Logs the run to MLflow (parameters, one metric series per pruner, artifacts).

    Args:
        target: the tracking URI (``sqlite:///path/mlflow.db``, ``http://host:5000``, ...); None: a SQLite
            database ``mlflow.db`` in the run folder's parent.
        experiment: the MLflow experiment (created if missing).
    """

    def __init__(self, *, target: str | None = None, experiment: str = "gnneval") -> None:
        super().__init__(target=target)
        require("mlflow", "mlflow", "mlflow")
        self.experiment = experiment

    def start(self, run: RunInfo) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        for noisy in ("mlflow", "alembic"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        parent = Path(run.out_dir).resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        self.uri = self.target or f"sqlite:///{parent / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri)
        exp = self.client.get_experiment_by_name(self.experiment)
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(
            self.experiment, artifact_location=(parent / "mlartifacts").as_uri()
        )  # fmt: skip
        tags = {"gnneval.checkpoint": str(run.checkpoint), "gnneval.run_dir": str(run.out_dir)}
        self.run_id = self.client.create_run(exp_id, run_name=Path(run.out_dir).name, tags=tags).info.run_id
        params = [Param(k, v) for k, v in flat_params({**run.settings, "step": "sparsity asked, %"}).items()]
        for i in range(0, len(params), 100):
            self.client.log_batch(self.run_id, params=params[i : i + 100])

    def log_variant(self, variant: VariantResult, run: RunResult) -> None:
        if variant.seed is None:  # repeats are logged merged, at the end
            self._log(series(run, variant))

    def _log(self, rows) -> None:  # noqa: ANN001
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(_name(f"{p}/{k}"), value, now, step) for p, step, scalars in rows for k, value in scalars.items()
        ]
        for i in range(0, len(metrics), 500):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 500])

    def finish(self, result: RunResult, run_dir: Path) -> None:
        self._log(repeated_rows(result))
        for label, path in result.files.items():
            p = Path(path)
            if p.is_file():
                self.client.log_artifact(self.run_id, str(p), artifact_path=None if label != "run" else "run")
        failed = any(not v.ok for v in result.variants)
        self.client.set_tag(self.run_id, "gnneval.complete", "no: a variant failed" if failed else "yes")
        self.client.set_terminated(self.run_id, "FINISHED")


def _name(key: str) -> str:
    """A metric key as MLflow accepts it (alphanumerics, ``_ - . : /`` and spaces): ``deg_33+`` -> ``deg_33plus``."""
    return re.sub(r"[^\w\-. :/]", "_", key.replace("+", "plus"))


@hookimpl
def gnneval_register_trackers(register):
    register.add_tracker(
        "mlflow",
        MlflowTracker,
        description="MLflow: parameters, a metric series per pruner, artifacts (SQLite by default)",
    )
