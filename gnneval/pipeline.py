"""The evaluation pipeline behind ``gnneval evaluate``.

load checkpoint -> load dataset -> evaluate the dense model -> for each pruner
and sparsity: prune a fresh copy, evaluate it -> store every variant in the
run's HDF5 (after each variant, atomically) -> draw pictures from the stored
file -> return the :class:`~gnneval.results.RunResult`.

A failure in one variant, metric or visualiser is recorded as a
:class:`~gnneval.results.Problem` and the rest of the run goes on.
"""

from __future__ import annotations

import copy
import random
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gnneval.errors import GnnevalError, UsageError, one_line, suggest
from gnneval.manager import PluginHost
from gnneval.plugin import (
    TASKS,
    DatasetContext,
    DatasetRef,
    GraphData,
    MetricInputs,
    PruneContext,
    VisualContext,
)
from gnneval.results import Problem, Provenance, RunResult, VariantOutputs, VariantResult

DEFAULT_SPARSITIES = (0.3, 0.5, 0.7, 0.9)


@dataclass
class EvaluateSettings:
    """Everything that shapes a run; stored with the results."""

    checkpoint: Path
    pruners: list[str]
    sparsities: list[float] = field(default_factory=lambda: list(DEFAULT_SPARSITIES))
    out_dir: Path | None = None
    seed: int = 0
    data_root: str | None = None
    dataset: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    loader: str | None = None
    loader_options: dict[str, Any] = field(default_factory=dict)  #: e.g. ``arch`` and ``arch_kwargs``
    task: str | None = None  #: overrides the checkpoint's task
    trust: bool = False
    metrics: list[str] | None = None  #: None = every registered metric
    visualisers: list[str] | None = None  #: None = every registered visualiser
    pruner_options: dict[str, Any] = field(default_factory=dict)
    finetune_epochs: int = 0  #: retrain every pruned variant this many epochs (masks fixed; early stopping)
    bench: bool = True
    bench_budget_s: float = 0.5
    backends: list[str] = field(default_factory=lambda: ["torch", "onnxruntime"])
    providers: list[str] | None = None  #: force ONNX Runtime execution providers
    onnx_exporter: str = "auto"  #: ``auto`` (dynamo, then TorchScript), ``dynamo`` or ``torchscript``
    onnx_graph: str = "auto"  #: message passing in the ONNX export: ``auto``, ``sparse`` or ``scatter``
    save_pruned: bool = False  #: write every variant (and the dense model) as a compressed native checkpoint
    metric_sample: int = 2000  #: nodes in the shared sample for O(n^2) metrics
    bootstrap: int = 200  #: bootstrap resamples for confidence intervals
    device: str = "cpu"
    formats: tuple[str, ...] = ("png",)
    command: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}
        out["formats"] = list(self.formats)
        return out


def validate_sparsity(value: float) -> float:
    if not (0.0 <= value < 1.0):
        raise UsageError(f"sparsity {value:g} is outside [0, 1); give fractions such as 0.3,0.5,0.9")
    return value


def variant_id(pruner: str, sparsity: float) -> str:
    return f"{pruner}@{sparsity:.2f}"


def default_run_dir(checkpoint: Path, pruners: list[str]) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{checkpoint.stem}-{'+'.join(pruners)}-{stamp}"


def seed_everything(seed: int) -> None:
    import os

    import numpy as np
    import torch

    if os.environ.get("GNNEVAL_THREADS"):  # set by `gnneval batch` for each worker process
        torch.set_num_threads(max(1, int(os.environ["GNNEVAL_THREADS"])))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Loaded:
    """A checkpoint and its dataset, ready to evaluate or benchmark."""

    ckpt: Any  #: the :class:`~gnneval.plugin.LoadedCheckpoint`
    loader: str
    graph: GraphData
    dataset_loader: str
    task: str
    device: str  #: the device asked for, or ``cpu`` where CUDA was asked for and there is none


def load_for_evaluation(s: EvaluateSettings, registry, problems: list[Problem], console=None) -> Loaded:
    """Load the checkpoint and its dataset as ``evaluate`` and ``bench`` do, with every check on the
    pair: the device, the task, the dataset's task and the model's input size.  What the checkpoint
    loader inferred or repaired is printed on ``console``."""
    from gnneval.checkpoint import load_checkpoint
    from gnneval.datasets import default_cache_dir, load_dataset, resolve_data_root

    device = s.device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            problems.append(Problem("device", f"{device} was asked for but no CUDA device is available; "
                                              "running on the CPU"))
            device = "cpu"
    ckpt, loader = load_checkpoint(s.checkpoint, registry, trust=s.trust, loader=s.loader,
                                   options=s.loader_options, problems=problems)
    if console is not None:
        for key in ("source", "architecture"):
            if key in ckpt.metadata:
                console.print(f"checkpoint loader '{loader}': {key}: {ckpt.metadata[key]}", soft_wrap=True,
                              markup=False)
        for note in ckpt.metadata.get("mapping", []):
            console.print(f"checkpoint loader '{loader}': {note}", soft_wrap=True, markup=False)
    task = s.task or ckpt.task or "node-classification"
    if task not in TASKS:
        raise UsageError(f"{s.checkpoint} is a '{task}' model; gnneval evaluate supports {', '.join(TASKS)}")
    dctx = DatasetContext(root=resolve_data_root(s.data_root), cache_dir=default_cache_dir(), seed=s.seed)
    graph, dataset_loader = load_dataset(registry, dataset_ref(s, ckpt, task), dctx)
    if graph.task != task:
        raise UsageError(f"{s.checkpoint} is a '{task}' model but dataset loader '{dataset_loader}' gave a "
                         f"'{graph.task}' dataset; pass --dataset-option task={task}")
    expected = ckpt.architecture_kwargs.get("in_channels")
    if isinstance(expected, int) and expected != graph.num_features:
        raise UsageError(f"the model takes {expected} input features but dataset {graph.name} has "
                         f"{graph.num_features}; pass the --dataset it was trained on")
    return Loaded(ckpt, loader, graph, dataset_loader, task, device)


def dataset_ref(s: EvaluateSettings, ckpt, task: str) -> DatasetRef:
    """The dataset to evaluate on: ``--dataset`` if given, else the checkpoint's, with the options merged."""
    if s.dataset:
        ref = DatasetRef(name=s.dataset, options=dict(s.dataset_options))
    elif ckpt.dataset is not None:
        ref = ckpt.dataset
        ref.options = {**ref.options, **s.dataset_options}
    else:
        raise UsageError(f"{s.checkpoint} does not record its dataset; pass --dataset NAME")
    if task != "node-classification":
        ref.options.setdefault("task", task)
    return ref


class Evaluator:
    """Runs one ``evaluate``; construct, then call :meth:`run`."""

    def __init__(self, settings: EvaluateSettings, host: PluginHost, *, console=None, show_progress: bool = True):
        from rich.console import Console

        self.s = settings
        self.host = host
        self.reg = host.registry
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self.problems: list[Problem] = list(host.problems)

    # -- validation before any heavy work --------------------------------------------------
    def _validate(self) -> None:
        if not self.s.pruners:
            raise UsageError("no pruner given; pass --pruner NAME (see `gnneval plugins`)")
        for name in self.s.pruners:
            self.reg.get("pruner", name)
        for sp in self.s.sparsities:
            validate_sparsity(sp)
        if not self.s.sparsities:
            raise UsageError("no sparsity given; pass --sparsity 0.3,0.5,0.7,0.9 for example")
        for name in self.s.metrics or []:
            self.reg.get("metric", name)
        from gnneval.bench import BACKENDS, ONNX_GRAPHS

        for b in self.s.backends:
            if b not in BACKENDS:
                raise UsageError(f"unknown benchmark backend '{b}'{suggest(b, BACKENDS)}; use {', '.join(BACKENDS)}")
        if self.s.onnx_exporter not in ("auto", "dynamo", "torchscript"):
            raise UsageError(f"unknown ONNX exporter '{self.s.onnx_exporter}'; use auto, dynamo or torchscript")
        if self.s.onnx_graph not in ONNX_GRAPHS:
            raise UsageError(f"unknown --onnx-graph '{self.s.onnx_graph}'; use {', '.join(ONNX_GRAPHS)}")
        if self.s.metric_sample < 10:
            raise UsageError(f"--metric-sample {self.s.metric_sample} is too small; use at least 10 nodes")
        if self.s.bootstrap < 0:
            raise UsageError("--bootstrap must be 0 (no intervals) or more resamples")
        for name in self.s.visualisers or []:
            self.reg.get("visualiser", name)
        if not self.s.checkpoint.exists():
            raise UsageError(f"checkpoint {self.s.checkpoint} does not exist; give the path of a checkpoint file")

    # -- one variant -------------------------------------------------------------------------
    def _measure(self, v: VariantResult, model, graph: GraphData, dense: VariantResult | None,
                 dense_numel: dict[str, int]) -> None:
        from gnneval.accounting import count_flops, count_params, layer_sparsity, size_bytes, weight_histograms
        from gnneval.forward import run_model

        model = model.to(self.s.device).eval()
        v.outputs = run_model(model, graph, self.s.device)
        v.params, v.nonzero_params = count_params(model)
        v.size_bytes = size_bytes(model)
        v.flops, v.flops_sparse = count_flops(model, graph, self.s.device)
        v.edges = int(graph.data.edge_index.shape[1])
        base = dense.params if dense is not None else v.params
        v.param_reduction = 1.0 - v.params / base if base else 0.0
        v.weight_sparsity = 1.0 - v.nonzero_params / base if base else 0.0
        v.layer_sparsity = layer_sparsity(model, dense_numel)
        v.weight_histograms = weight_histograms(model)
        self._metrics(v, graph, dense.outputs if dense is not None else None)
        if self.s.bench:
            from gnneval.bench import run_backends

            t0 = time.perf_counter()
            v.bench = run_backends(model, graph, backends=self.s.backends, device=self.s.device,
                                   budget_s=self.s.bench_budget_s, providers=self.s.providers,
                                   exporter=self.s.onnx_exporter, onnx_graph=self.s.onnx_graph, workdir=self._out_dir / "onnx" / v.id,
                                   problems=self.problems)
            v.details["bench_wall_s"] = time.perf_counter() - t0
            for b in v.bench:
                if b.status != "ok":
                    self.problems.append(Problem(f"benchmark of {v.id} on {b.backend}", b.note))

    def _metrics(self, v: VariantResult, graph: GraphData, dense: VariantOutputs | None) -> None:
        arrays = self._arrays
        names = self.s.metrics if self.s.metrics is not None else self.reg.default_names("metric")
        for name in names:
            reg = self.reg.get("metric", name)
            cls = reg.obj
            if cls.needs_dense and dense is None:
                continue
            if cls.tasks is not None and arrays.task not in cls.tasks:
                continue
            try:
                metric = cls(**reg.options)
                if cls.level == "layer":
                    for layer, emb in v.outputs.embeddings.items():
                        dense_emb = dense.embeddings.get(layer) if dense is not None else None
                        if cls.needs_dense and dense_emb is None:
                            continue
                        vals = metric.compute(MetricInputs(arrays, v.outputs, dense, self.s.seed, layer, emb, dense_emb,
                                                           self.s.metric_sample, self.s.bootstrap))
                        v.layer_metrics.setdefault(layer, {}).update({f"{name}.{k}": float(x) for k, x in vals.items()})
                else:
                    vals = metric.compute(MetricInputs(arrays, v.outputs, dense, self.s.seed,
                                                       sample_size=self.s.metric_sample, bootstrap=self.s.bootstrap))
                    v.metrics.update({f"{name}.{k}": float(x) for k, x in vals.items()})
            except Exception as exc:  # noqa: BLE001 - one metric must not lose the others
                self.problems.append(Problem(f"metric '{name}' ({reg.plugin}) on {v.id}", one_line(exc)))

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> RunResult:
        from gnneval.accounting import weight_shapes
        from gnneval.checkpoint import library_versions, sha256_file
        from gnneval.storage import write_run

        s = self.s
        self._validate()
        self.host.call_each("gnneval_evaluate_start", self.problems, settings=s)
        out_dir = Path(s.out_dir) if s.out_dir else default_run_dir(s.checkpoint, s.pruners)
        self._out_dir = out_dir
        seed_everything(s.seed)

        loaded = load_for_evaluation(s, self.reg, self.problems, console=self.console)
        ckpt, loader_name, graph, dataset_loader, task = (loaded.ckpt, loaded.loader, loaded.graph,
                                                           loaded.dataset_loader, loaded.task)
        s.device = loaded.device
        self._arrays = graph.arrays()

        prov = Provenance(
            checkpoint_path=str(s.checkpoint), checkpoint_sha256=sha256_file(s.checkpoint),
            checkpoint_loader=loader_name, architecture=ckpt.architecture,
            architecture_kwargs=ckpt.architecture_kwargs, dataset=graph.name, dataset_loader=dataset_loader,
            dataset_source=graph.source, task=task, seed=s.seed, device=s.device,
            command=s.command or shlex.join(sys.argv),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"), versions=library_versions(),
            plugins={n: f"{i.dist} {i.version}" for n, i in self.host.plugins.items() if i.status == "loaded"},
            settings=s.as_dict(), checkpoint_metadata=ckpt.metadata,
        )
        result = RunResult(provenance=prov, graph=self._arrays, variants=[], problems=self.problems)
        h5 = out_dir / "run.h5"

        dense_model = ckpt.model.eval()
        dense_numel = weight_shapes(dense_model)
        jobs = [(p, sp) for p in s.pruners for sp in s.sparsities]
        with self._progress() as progress:
            task_id = progress.add_task("dense model", total=1 + len(jobs))
            dense = VariantResult(id="dense", pruner=None, sparsity=0.0)
            t0 = time.perf_counter()
            try:
                self._measure(dense, dense_model, graph, None, dense_numel)
            except RuntimeError as exc:
                raise UsageError(f"the model does not run on dataset {graph.name}: {one_line(exc)[:200]}") from None
            dense.seconds = time.perf_counter() - t0
            self._save_variant(dense, dense_model, {}, ckpt, graph, prov.checkpoint_sha256)
            self._check_stored_accuracy(ckpt, dense, loader_name)
            result.variants.append(dense)
            write_run(h5, result)
            self.host.call_each("gnneval_variant_evaluated", self.problems, variant=dense, run_dir=out_dir)
            progress.advance(task_id)
            for pruner_name, sp in jobs:
                vid = variant_id(pruner_name, sp)
                progress.update(task_id, description=f"{vid}")
                v = self._one_variant(pruner_name, sp, vid, dense_model, graph, dense, dense_numel, ckpt,
                                      prov.checkpoint_sha256)
                result.variants.append(v)
                write_run(h5, result)
                self.host.call_each("gnneval_variant_evaluated", self.problems, variant=v, run_dir=out_dir)
                progress.advance(task_id)
            progress.update(task_id, description="done")

        result.files = self.draw(h5, out_dir)
        result.problems = self.problems
        try:
            from gnneval.htmlreport import write_report

            result.files["report"] = str(write_report(result, out_dir))
        except Exception as exc:  # noqa: BLE001 - every variant is stored already
            self.problems.append(Problem("report.html", one_line(exc)))
        write_run(h5, result)  # once, with the pictures, the report and any problem they had
        n_problems = len(self.problems)
        self.host.call_each("gnneval_evaluate_end", self.problems, result=result, run_dir=out_dir)
        if len(self.problems) != n_problems:  # keep what the end hooks reported with the results
            write_run(h5, result)
        result.files["run"] = str(h5)
        return result

    def _check_stored_accuracy(self, ckpt, dense: VariantResult, loader_name: str) -> None:
        """Compare the evaluated dense accuracy with the one the checkpoint records (checks any key mapping)."""
        stored = (ckpt.metadata.get("metrics") or {}).get("test_accuracy")
        got = dense.metrics.get("accuracy.test")
        if not isinstance(stored, (int, float)) or got is None:
            return
        if abs(got - stored) <= 0.005:
            self.console.print(f"checkpoint check: evaluated test accuracy {got:.4f} matches the stored {stored:.4f}")
        else:
            self.problems.append(Problem(f"checkpoint loader '{loader_name}'",
                                         f"the checkpoint records test accuracy {stored:.4f} but it evaluates to "
                                         f"{got:.4f} here: the weight mapping, the dataset or its split differs"))

    def _one_variant(self, pruner_name, sp, vid, dense_model, graph, dense, dense_numel, ckpt,
                     source_sha256: str) -> VariantResult:
        import torch

        v = VariantResult(id=vid, pruner=pruner_name, sparsity=sp)
        reg = self.reg.get("pruner", pruner_name)
        t0 = time.perf_counter()
        if ckpt.metadata.get("prunable") is False:
            v.status = "failed"
            v.error = (f"pruner '{pruner_name}' cannot prune this checkpoint: "
                       f"{ckpt.metadata.get('source', 'its format keeps no editable weights')}")
            self.problems.append(Problem(f"variant {vid}", v.error))
            return v
        try:
            seed_everything(self.s.seed)
            pruner = reg.obj(**{**reg.options, **self.s.pruner_options.get(pruner_name, {})})
            model = copy.deepcopy(dense_model)
            ctx = PruneContext(graph=graph, architecture=ckpt.architecture, seed=self.s.seed, device=self.s.device)
            outcome = pruner.prune(model, sp, ctx)
            model = outcome.model
            if outcome.masks:  # keep masked weights at exactly zero
                params = dict(model.named_parameters())
                with torch.no_grad():
                    for name, mask in outcome.masks.items():
                        params[name].mul_(mask.to(params[name].device, params[name].dtype))
            v.details = dict(outcome.details)
            v.training_flops = float(outcome.training_flops or 0.0)
            if self.s.finetune_epochs > 0:
                from gnneval.training import train

                tr = train(model, outcome.graph or graph, epochs=self.s.finetune_epochs,
                           patience=min(self.s.finetune_epochs, 50), masks=outcome.masks, seed=self.s.seed)
                v.details["finetune"] = {"epochs": tr.epochs, "best_epoch": tr.best_epoch, "best_val": tr.best_val,
                                         "seconds": tr.seconds, "flops": tr.flops}
                v.training_flops += tr.flops
            self._measure(v, model, outcome.graph or graph, dense, dense_numel)
            self._save_variant(v, model, outcome.masks, ckpt, graph, source_sha256)
        except GnnevalError as exc:
            v.status, v.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - one variant must not lose the others
            v.status, v.error = "failed", f"pruner '{pruner_name}' ({reg.plugin}) raised {one_line(exc)}"
        if not v.ok:
            self.problems.append(Problem(f"variant {vid}", v.error))
            v.outputs = None
        v.seconds = time.perf_counter() - t0
        return v

    def _save_variant(self, v: VariantResult, model, masks, ckpt, graph: GraphData, source_sha256: str) -> None:
        """``--save-pruned``: write ``checkpoints/<variant>.pt`` (format 2: sparse weights compressed,
        masks kept) and record its size; a failure is a problem, never a lost variant."""
        if not self.s.save_pruned:
            return
        from gnneval.checkpoint import save_checkpoint

        try:
            if ckpt.architecture not in self.reg.names("architecture"):
                raise UsageError(f"architecture '{ckpt.architecture}' is not registered, so a native checkpoint "
                                 "could not rebuild it")
            path = self._out_dir / "checkpoints" / f"{v.id}.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            metrics = {f"{split}_accuracy": float(v.metrics[f"accuracy.{split}"])
                       for split in ("train", "val", "test") if f"accuracy.{split}" in v.metrics}
            metrics.update({f"{k.split('.', 1)[1]}": float(val) for k, val in v.metrics.items()
                            if k.startswith("link-prediction.test_")})
            save_checkpoint(path, model=model, architecture=ckpt.architecture,
                            architecture_kwargs=ckpt.architecture_kwargs, task=graph.task,
                            dataset=dataset_ref(self.s, ckpt, graph.task), metrics=metrics,
                            training={"seed": self.s.seed, "finetune_epochs": self.s.finetune_epochs},
                            masks=masks, pruning={"pruner": v.pruner or "none", "sparsity": v.sparsity,
                                                  "seed": self.s.seed, "source_sha256": source_sha256,
                                                  "variant": v.id})
            v.checkpoint_bytes = path.stat().st_size
        except Exception as exc:  # noqa: BLE001 - the variant's results stand
            self.problems.append(Problem(f"--save-pruned {v.id}", one_line(exc)))

    def draw(self, h5: Path, out_dir: Path) -> dict[str, str]:
        """Run every selected visualiser on the stored run; returns label -> file."""
        from gnneval.storage import read_run

        stored = read_run(h5)
        names = self.s.visualisers if self.s.visualisers is not None else self.reg.default_names("visualiser")
        return draw_all(self.reg, stored, out_dir, names, self.problems, self.s.formats, self.s.seed,
                        progress=self._progress)

    def _progress(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        return Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=self.console, transient=False,
                        disable=not self.show_progress)


def draw_all(registry, run: RunResult, out_dir: Path, names: list[str], problems: list[Problem],
             formats: tuple[str, ...] = ("png",), seed: int = 0, progress=None) -> dict[str, str]:
    """Call each visualiser in ``names`` on ``run``; a failing one is recorded, the others still draw."""
    files: dict[str, str] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx_progress = progress() if progress else None
    if ctx_progress is not None:
        ctx_progress.__enter__()
        tid = ctx_progress.add_task("pictures", total=len(names))
    try:
        for name in names:
            reg = registry.get("visualiser", name)
            if ctx_progress is not None:
                ctx_progress.update(tid, description=f"picture: {name}")
            try:
                paths = reg.obj(**reg.options).draw(VisualContext(run=run, out_dir=out_dir, formats=formats, seed=seed))
                for i, p in enumerate(paths or []):
                    files[f"{name}" if i == 0 else f"{name}-{i}"] = str(p)
            except Exception as exc:  # noqa: BLE001
                problems.append(Problem(f"visualiser '{name}' ({reg.plugin})", one_line(exc)))
            if ctx_progress is not None:
                ctx_progress.advance(tid)
    finally:
        if ctx_progress is not None:
            ctx_progress.__exit__(None, None, None)
    return files
