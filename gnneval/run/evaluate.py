"""``gnneval evaluate`` as a loop over the stages.

validate settings -> load the checkpoint and its dataset (:mod:`gnneval.load`) -> measure the dense
model (:mod:`gnneval.measure`, :mod:`gnneval.bench`) -> for each pruner and sparsity: make a variant
(:mod:`gnneval.prune`), measure it, store it (:mod:`gnneval.store`) -> draw the pictures and the report
from the stored file (:mod:`gnneval.show`).

A failure in one variant, metric or visualiser is recorded as a :class:`~gnneval.core.records.Problem`
and the rest of the run goes on.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gnneval._plugins.manager import PluginHost
from gnneval.core import defaults
from gnneval.core.contract import GraphData, PruneContext, RunInfo
from gnneval.core.errors import GnnevalError, RunInterrupted, UsageError, one_line, out_of_memory, suggest
from gnneval.core.problems import ProblemLog, collecting, report
from gnneval.core.records import Provenance, RunResult, VariantResult
from gnneval.load.inputs import Loaded, load_for_evaluation
from gnneval.measure.metrics import declared_columns, declared_intervals
from gnneval.measure.variant import MeasureJob, measure_variant
from gnneval.model.assumptions import settle_assumptions
from gnneval.model.forward import run_model
from gnneval.model.inference import choose_inference
from gnneval.run.checks import check_dense_scores
from gnneval.run.existing import clear, existing_run, refuse_if_different, remove_stale
from gnneval.run.settings import (
    DEFAULT_SPARSITIES,
    EvaluateSettings,
    Resolved,
    default_run_dir,
    fix_threads,
    resolve_selection,
    seed_everything,
    validate,
    validate_sparsity,
    variant_id,
)
from gnneval.run.tracking import Tracking
from gnneval.store.run_lock import RunFolderLock
from gnneval.store.stored_rows import describe, kept_rows

__all__ = ["DEFAULT_SPARSITIES", "EvaluateSettings", "Evaluator", "validate_sparsity", "variant_id"]


@dataclass
class _Dense:
    """The dense model and what every variant is compared with."""

    model: Any
    result: VariantResult
    numel: dict[str, int]


def _where(exc: BaseException) -> str:
    """The innermost frame of ``exc``'s traceback, as ``package/module.py`` (never the exception's own text)."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "the model"
    parts = Path(frames[-1].filename).parts
    return "/".join(parts[-2:])


def _with_addition(first: Provenance, now: Provenance) -> Provenance:
    """The stored run's provenance, with this addition (command, time, settings, resolved) listed in
    ``resolved["additions"]``."""
    additions = [*first.resolved.get("additions", []),
                 {"command": now.command, "created": now.created, "settings": now.settings, "resolved": now.resolved}]  # fmt: skip
    return replace(first, resolved={**first.resolved, "additions": additions})


class Evaluator:
    """Runs one ``evaluate``: load, then for the dense model and each variant prune, measure, time and store,
    then show.  Construct, then call :meth:`run`; every problem goes to one :class:`ProblemLog`."""

    def __init__(
        self, settings: EvaluateSettings, host: PluginHost, *, console: Any = None, show_progress: bool = True
    ) -> None:
        from rich.console import Console

        self.s = settings
        self.host = host
        self.reg = host.registry
        self.console = console or Console(stderr=True)
        self.show_progress = show_progress
        self.log = ProblemLog(host.problems)
        self.prune = settings.prune_settings()
        self.bench = settings.bench_settings()
        self.plan: Resolved | None = None  #: what this run resolved, once :meth:`run` has begun
        self.columns: list[Any] = []
        self._measure: MeasureJob | None = None
        self._dense_ref: Any = None
        self._scratch: Any = None  #: an ExitStack while the variants run (the dense outputs' scratch folder)
        self._old: RunResult | None = None  #: the run already in the folder, which this one adds to
        self._replaced: RunResult | None = None  #: with --overwrite: the run this one replaces
        self._rows: Any = None  #: the nodes whose embeddings run.h5 keeps (None: all; --store-embeddings)
        self.tracking = Tracking()  #: the run's --track trackers, once :meth:`run` has begun

    @property
    def problems(self) -> list[Any]:
        return self.log.items

    @property
    def out_dir(self) -> Path:
        assert self.plan is not None
        return self.plan.out_dir

    @property
    def _device(self) -> str:
        return self.plan.device if self.plan is not None else "cpu"

    def run(self) -> RunResult:
        with collecting(self.log):
            return self._run()

    def _run(self) -> RunResult:
        s = self.s
        validate(s, self.reg)
        self.plan = Resolved(
            Path(s.out_dir) if s.out_dir else default_run_dir(s.checkpoint, list(s.pruners)),
            tuple(resolve_selection(self.reg, "metric", s.metrics)),
            tuple(resolve_selection(self.reg, "visualiser", s.visualisers)),
        )
        self._old = self._existing()
        self.tracking = Tracking.build(self.reg, s.trackers, dict(s.tracker_options))
        self.host.call_each("gnneval_evaluate_start", run=self._run_info())
        self.tracking.call("start", self._run_info())
        seed_everything(s.seed)
        threads = fix_threads(s.threads)
        try:
            loaded = load_for_evaluation(s.load_settings(), self.reg, console=self.console)
            loaded = settle_assumptions(loaded, self.reg, console=self.console)
            loaded = choose_inference(loaded, s.inference, console=self.console)
        except KeyboardInterrupt:
            raise RunInterrupted("gnneval: interrupted while loading; nothing was stored") from None
        self._rows = self._stored_rows(loaded)
        self.plan = replace(self.plan, threads=threads, device=loaded.device, split=loaded.graph.split,
                            inference=loaded.graph.adjacency,
                            stored_embeddings=describe(self._rows, int(loaded.graph.data.num_nodes)))  # fmt: skip
        if self._old is not None:
            refuse_if_different(self._old, self.out_dir, dataset=loaded.graph.name, task=loaded.task, split=loaded.graph.split,
                                dataset_options=dict(s.dataset_options), transform=s.transform)  # fmt: skip
        result = self._start_result(loaded)
        self._say_selection()
        with RunFolderLock(self.out_dir):
            if s.overwrite:  # only now, under the lock and with the new run loaded, does the old one go
                clear(self.out_dir, self._replaced)
            try:
                with self._progress() as progress:
                    self._variants(loaded, result, progress)
                del loaded  # the pictures and the report draw from run.h5: the graph and the models go first
                self._dense_ref = self._measure = None
                return self._finish(result)
            except KeyboardInterrupt:
                raise self._interrupted(result) from None

    def _interrupted(self, result: RunResult) -> RunInterrupted:
        """Store what is finished and say exactly that."""
        from gnneval.store.hdf5 import update_meta

        done = [v.id for v in result.variants]
        if not done:
            return RunInterrupted(
                f"gnneval: interrupted before the dense model was measured; nothing was stored in {self.out_dir}"
            )
        report(
            "run",
            "interrupted (Ctrl-C or a plugin's KeyboardInterrupt); the variants after the last one "
            "stored were not evaluated",
        )
        result.problems = self.problems
        update_meta(self.out_dir / "run.h5", result)
        return RunInterrupted(
            f"gnneval: interrupted; {len(done)} finished variant(s) ({', '.join(done)}) are stored "
            f"in {self.out_dir / 'run.h5'}; the pictures and report were not drawn "
            f"(gnneval report {self.out_dir} draws them)"
        )

    def _existing(self) -> RunResult | None:
        """The run already in the folder to add to (after the cheap checks), or None."""
        from gnneval.load.checkpoint import sha256_file

        old = existing_run(self.out_dir, self.s.overwrite)
        if self.s.overwrite:
            self._replaced = old
            return None
        if old is not None:
            refuse_if_different(
                old,
                self.out_dir,
                checkpoint_sha256=sha256_file(self.s.checkpoint),
                seed=self.s.seed,
                seeds=list(self.s.seeds),
            )
            self.console.print(f"adding to the run in {self.out_dir} ({len(old.variants)} variants; --overwrite "
                               "replaces it instead)", soft_wrap=True, markup=False)  # fmt: skip
        return old

    # -- stages ------------------------------------------------------------------------------
    def _variants(self, loaded: Loaded, result: RunResult, progress: Any) -> None:
        from contextlib import ExitStack

        from gnneval.model.counting import weight_shapes
        from gnneval.store.spilled import release_pages

        planned = self._planned()
        kept = {v.id for v in self._old.variants} if self._old is not None else set()
        jobs = [job for job in planned if job[3] not in kept]
        if kept & {job[3] for job in planned}:
            self.console.print(f"already in the run, kept: {', '.join(sorted(kept & {j[3] for j in planned}))}",
                               soft_wrap=True, markup=False)  # fmt: skip
        task_id = progress.add_task("dense model", total=1 + len(jobs))
        dense_model = loaded.ckpt.model.eval()
        dense = _Dense(dense_model, VariantResult(id="dense", pruner=None, sparsity=0.0), weight_shapes(dense_model))
        with ExitStack() as self._scratch:  # the dense outputs' scratch folder, if they go to disk, goes with it
            self._dense_first(dense, loaded, result, progress, task_id, bool(jobs))
            release_pages(dense.result.outputs)  # what the dense model's checks and timing read
            self._say_progress(1, 1 + len(jobs), "dense")
            for k, (pruner_name, sp, seed, vid) in enumerate(jobs):
                progress.update(task_id, description=vid)
                v, model, masks = self._one_variant(pruner_name, sp, vid, dense, loaded, seed)
                self._finish_variant(result, v, model, masks, loaded, progress, task_id)
                release_pages(dense.result.outputs)  # a variant that failed after its metrics read them
                self._say_progress(k + 2, 1 + len(jobs), vid)
            if dense.result.outputs is not None:  # the metrics of every variant are done: the stored rows suffice
                dense.result.outputs = kept_rows(dense.result.outputs, self._rows)
        progress.update(task_id, description="done")

    def _dense_first(self, dense: _Dense, loaded: Loaded, result: RunResult, progress: Any, task_id: Any,
                     compared: bool) -> None:  # fmt: skip
        """Measure and store the dense model (or take it from the run added to), its outputs kept for the
        ``compared`` variants."""
        if self._old is None:
            self._measure_dense(dense, loaded, compared)
            self._finish_variant(result, dense.result, dense.model, {}, loaded, progress, task_id)
            return
        # the stored dense model is the one compared with; timing needs it in this process again
        self._bench(VariantResult(id="dense", pruner=None, sparsity=0.0), dense.model, loaded.graph)
        dense.result = self._old.dense
        if self._rows is not None:  # the stored dense outputs are a sample: the metrics need every node's
            assert self._measure is not None
            outputs = run_model(dense.model, loaded.graph, self._device, also=self._measure.capture)
            dense.result = replace(self._old.dense, outputs=self._spilled(outputs) if compared else outputs)
        result.variants = list(self._old.variants)
        progress.advance(task_id)

    def _spilled(self, outputs: Any) -> Any:
        """The dense model's outputs, memory-mapped from the run folder's scratch when they are large
        (:mod:`gnneval.store.spilled`), said in the run."""
        from gnneval.store.spilled import outputs_bytes, spilled

        assert self._measure is not None
        mapped = self._scratch.enter_context(spilled(outputs, self.out_dir, defaults.SPILL_BYTES))
        if mapped is not outputs:
            self._measure.shared.forget_except(list(mapped.embeddings.values()))  # the in-memory arrays go
            self.console.print(f"dense outputs: {outputs_bytes(outputs) / 2**30:.1f} GiB, kept memory-mapped in the "
                               "run folder while the variants are compared with them (removed after)",
                               soft_wrap=True, markup=False)  # fmt: skip
        return mapped

    @staticmethod
    def _say_progress(done: int, total: int, now: str) -> None:
        """For ``batch``: the variants done so far, in the file it named (atomically; nothing if it named none)."""
        import json
        import os

        from gnneval.core.defaults import PROGRESS_FILE_ENV

        path = os.environ.get(PROGRESS_FILE_ENV)
        if not path:
            return
        try:
            tmp = Path(path + ".tmp")
            tmp.write_text(json.dumps({"done": done, "total": total, "now": now}))
            os.replace(tmp, path)
        except OSError:  # progress is a courtesy; the run goes on
            pass

    def _planned(self) -> list[tuple[str, float, int | None, str]]:
        """Every variant to make, pruner by pruner: (pruner, sparsity, seed of the repeat or None, id)."""
        from gnneval.core.records import SEED_MARK

        out: list[tuple[str, float, int | None, str]] = []
        repeats = {p: self._repeats(p) for p in self.prune.pruners}
        for p, sp in self.prune.jobs():
            vid = variant_id(p, sp, list(self.prune.sparsities))
            if len(repeats[p]) == 1:
                out.append((p, sp, None, vid))
            else:
                out += [(p, sp, seed, f"{vid}{SEED_MARK}{seed}") for seed in repeats[p]]
        return out

    def _repeats(self, pruner_name: str) -> tuple[int, ...]:
        """The seeds ``pruner_name``'s variants are made with (``--seeds``; see ``PruneSettings.repeats``)."""
        if len(self.prune.seeds) == 1:
            return self.prune.seeds
        reg = self.reg.get("pruner", pruner_name)
        try:
            pruner = self.reg.instantiate("pruner", pruner_name, **self.prune.options.get(pruner_name, {}))
        except Exception:  # noqa: BLE001 - each variant fails with the reason, once per seed
            return self.prune.seeds
        try:
            return self.prune.repeats(pruner)
        except Exception as exc:  # noqa: BLE001 - a plugin's mistake is named, and the safe choice made
            report(f"pruner '{pruner_name}' ({reg.plugin})", f"uses_seed() raised {one_line(exc)}; its variants "
                   "are made once per seed")  # fmt: skip
            return self.prune.seeds

    def _measure_dense(self, dense: _Dense, loaded: Loaded, compared: bool = True) -> None:
        t0 = time.perf_counter()
        try:
            measure_variant(dense.result, dense.model, loaded.graph, None, dense.numel, self._measure)
        except (RuntimeError, IndexError, ValueError, TypeError, KeyError, MemoryError) as exc:
            oom = out_of_memory(exc, "the dense model's forward pass", loaded.graph.name)
            if oom is not None:
                raise UsageError(oom) from None
            raise UsageError(f"the model does not run on dataset {loaded.graph.name}: its forward pass raised "
                             f"{type(exc).__name__} in {_where(exc)}; check --dataset, --task and the architecture "
                             "(--arch, --arch-option); --debug shows the traceback") from None  # fmt: skip
        layers = list(dense.result.outputs.embeddings) if dense.result.outputs is not None else []
        if self.s.layer and self.s.layer not in layers:
            modules = [n for n, _ in dense.model.named_modules() if n]
            raise UsageError(f"--layer {self.s.layer}: the model has no such module"
                             f"{suggest(self.s.layer, modules)}; its message-passing layers: {', '.join(layers) or 'none'}"
                             f"; other modules: {', '.join(modules[:12])}")  # fmt: skip
        if compared:
            dense.result.outputs = self._spilled(dense.result.outputs)
        self._bench(dense.result, dense.model, loaded.graph)
        dense.result.seconds = time.perf_counter() - t0
        check_dense_scores(loaded, dense.result, self.columns, self.console)

    def _one_variant(
        self, pruner_name: str, sp: float, vid: str, dense: _Dense, loaded: Loaded, seed: int | None = None
    ) -> tuple[VariantResult, Any, dict[str, Any]]:
        """Make, measure and time one variant (one repeat of it, ``seed``, under ``--seeds``)."""
        from gnneval.prune.variants import make_variant
        from gnneval.store.spilled import release_pages

        v = VariantResult(id=vid, pruner=pruner_name, sparsity=sp, seed=seed)
        v.deterministic = seed is None and len(self.prune.seeds) > 1
        used = self.prune.seed if seed is None else seed
        reg = self.reg.get("pruner", pruner_name)
        t0 = time.perf_counter()
        model, masks = None, {}
        try:
            if not loaded.ckpt.prunable:
                raise UsageError(
                    f"pruner '{pruner_name}' cannot prune this checkpoint: "
                    f"{loaded.ckpt.source or 'its format keeps no editable weights'}"
                )
            seed_everything(used)
            pruner = self.reg.instantiate("pruner", pruner_name, **self.prune.options.get(pruner_name, {}))
            ctx = PruneContext(
                graph=loaded.graph, architecture=loaded.ckpt.architecture, seed=used, device=self._device
            )
            made = make_variant(pruner, dense.model, sp, ctx, self.prune.finetune_epochs)
            model, masks = made.model, made.masks
            v.details, v.training_flops = made.details, made.training_flops
            for w in made.warnings:
                report(f"pruner '{pruner_name}' ({reg.plugin}) on {vid}", w)
            measure_variant(v, model, made.graph, dense.result, dense.numel, self._measure_with(used))
            if v.outputs is not None:  # its metrics are done: keep what run.h5 stores (a sample: the memory back)
                v.outputs = kept_rows(v.outputs, self._rows)
            release_pages(dense.result.outputs)  # and the dense outputs' pages the metrics read, before timing
            if used == self.prune.seed:  # a repeat changes which weights, not how many: the first is timed
                self._bench(v, model, made.graph)
        except GnnevalError as exc:
            v.status, v.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - one variant must not lose the others
            oom = out_of_memory(exc, f"variant {vid}", loaded.graph.name)
            v.status, v.error = "failed", oom or f"pruner '{pruner_name}' ({reg.plugin}) raised {one_line(exc)}"
        except SystemExit as exc:  # a plugin calling sys.exit() ends its variant, not the run
            v.status, v.error = "failed", f"pruner '{pruner_name}' ({reg.plugin}) called sys.exit({exc.code!r})"
        if not v.ok:
            report(f"variant {vid}", v.error)
            v.outputs, model = None, None
        v.seconds = time.perf_counter() - t0
        return v, model, masks

    def _measure_with(self, seed: int) -> MeasureJob:
        """The measuring job with ``seed`` for the metrics' own samples (a repeat draws its own)."""
        assert self._measure is not None
        if seed == self._measure.metrics.seed:
            return self._measure
        return replace(self._measure, metrics=replace(self._measure.metrics, seed=seed))

    def _finish_variant(
        self,
        result: RunResult,
        v: VariantResult,
        model: Any,
        masks: dict[str, Any],
        loaded: Loaded,
        progress: Any,
        task_id: Any,
    ) -> None:
        from gnneval.store.hdf5 import append_variant, write_run

        if model is not None and self.s.save_pruned:
            self._save(v, model, masks, loaded, result.provenance.checkpoint_sha256)
        result.variants.append(v)
        h5 = self.out_dir / "run.h5"
        if v.id == "dense":
            write_run(h5, result)  # the file, with the graph and provenance, atomically
        else:
            append_variant(h5, result, v)  # each later variant in place (its outputs cut to the stored rows)
        self.host.call_each("gnneval_variant_evaluated", variant=v, run_dir=self.out_dir)
        self.tracking.call("log_variant", v, result)
        progress.advance(task_id)

    def _bench(self, v: VariantResult, model: Any, graph: GraphData) -> None:
        """Time ``v`` on every backend, holding the machine's timing slot; a variant's PyTorch timing is paired
        with the dense model (its speed-up is measured as a ratio, with an interval and a noise flag)."""
        if not self.bench.enabled:
            return
        from gnneval.bench.backends import Reference, run_backends
        from gnneval.bench.timing_lock import timing_slot

        reference = None
        if v.id != "dense" and self._dense_ref is not None:
            reference = self._dense_ref
        keep: dict[str, Any] = {}
        with timing_slot() as waited:
            t0 = time.perf_counter()
            v.bench = run_backends(
                model,
                graph,
                self.bench,
                device=self._device,
                workdir=self.out_dir / "onnx" / v.id,
                reference=reference,
                keep=keep if v.id == "dense" else None,
                expected=v.outputs,
            )
            v.details["bench_wall_s"] = time.perf_counter() - t0
        v.details["bench_lock_wait_s"] = waited
        if v.id == "dense":

            def median(backend: str) -> float | None:
                return next((b.median_ms for b in v.bench if b.backend == backend and b.status == "ok"), None)

            self._dense_ref = Reference(
                model, graph, median("torch"), keep.get("onnxruntime"), median("onnxruntime"), keep.get("onnx_graph")
            )
        # a noisy figure is stored with its reason (BenchResult.noisy / .noise) and marked ~ in the summary
        for b in v.bench:
            if b.status != "ok":
                report(f"benchmark of {v.id} on {b.backend}", b.note)

    def _save(self, v: VariantResult, model: Any, masks: dict[str, Any], loaded: Loaded, sha: str) -> None:
        """``--save-pruned``: a failure is a problem, never a lost variant."""
        from gnneval.store.variant_checkpoints import save_variant

        try:
            path = save_variant(
                self.out_dir,
                v,
                model,
                masks,
                loaded.ckpt,
                loaded.task,
                loaded.dataset_ref,
                self.columns,
                {"seed": self.prune.seed, "finetune_epochs": self.prune.finetune_epochs},
                sha,
                loaded.ckpt.architecture in self.reg.names("architecture") or "model_class" in loaded.ckpt.metadata,
            )
            v.checkpoint_bytes = path.stat().st_size
        except Exception as exc:  # noqa: BLE001 - the variant's results stand
            report(f"--save-pruned {v.id}", one_line(exc))

    def _finish(self, result: RunResult) -> RunResult:
        from gnneval.show.html_report import write_report
        from gnneval.show.pictures import draw_all
        from gnneval.store.hdf5 import read_run, update_meta

        h5 = self.out_dir / "run.h5"
        stored = read_run(h5)
        before = dict(self._old.files) if self._old is not None else {}
        result.files = draw_all(
            self.reg,
            stored,
            self.out_dir,
            list(self.plan.visualisers),
            self.s.show_settings(self.plan.threads),
            progress=self._progress,
        )
        result.captions, result.ranks = stored.captions, stored.ranks
        result.problems = self.problems
        try:
            result.files["report"] = str(write_report(result, self.out_dir))
        except Exception as exc:  # noqa: BLE001 - every variant is stored already
            report("report.html", one_line(exc))
        gone = remove_stale(self.out_dir, before, result.files)
        if gone:
            self.console.print(f"removed pictures of the earlier drawing that were not drawn again: {', '.join(gone)}",
                               soft_wrap=True, markup=False)  # fmt: skip
        update_meta(h5, result)  # the pictures, the report and any problem they had
        n_problems = len(self.problems)
        self.host.call_each("gnneval_evaluate_end", result=result, run_dir=self.out_dir)
        if self.tracking.trackers:  # the run as stored: what was read for drawing, with what update_meta added
            stored.files, stored.problems = {**result.files, "run": str(h5)}, list(self.problems)
            self.tracking.call("finish", stored, self.out_dir)
        if len(self.problems) != n_problems:  # keep what the end hooks and trackers reported with the results
            update_meta(h5, result)
        result.files["run"] = str(h5)
        return result

    # -- helpers -----------------------------------------------------------------------------
    def _run_info(self) -> RunInfo:
        s, plan = self.s, self.plan
        assert plan is not None
        return RunInfo(
            checkpoint=s.checkpoint,
            out_dir=plan.out_dir,
            pruners=s.pruners,
            sparsities=s.sparsities,
            seed=s.seed,
            device=s.device,
            metrics=plan.metrics,
            visualisers=plan.visualisers,
            command=s.command or shlex.join(sys.argv),
            settings=s.as_dict(),
        )

    def _start_result(self, loaded: Loaded) -> RunResult:
        from gnneval.load.checkpoint import library_versions, sha256_file

        s, ckpt, plan = self.s, loaded.ckpt, self.plan
        assert plan is not None
        self._measure = MeasureJob(self.reg, plan.metrics, loaded.graph.arrays(), s.metric_settings(), plan.device,
                                   capture=(s.layer,) if s.layer else ())  # fmt: skip
        self.columns = declared_columns(self.reg, list(plan.metrics), loaded.task, self._measure.arrays)
        prov = Provenance(
            checkpoint_path=str(s.checkpoint),
            checkpoint_sha256=sha256_file(s.checkpoint),
            checkpoint_loader=loaded.loader,
            architecture=ckpt.architecture,
            architecture_kwargs=ckpt.architecture_kwargs,
            dataset=loaded.graph.name,
            dataset_loader=loaded.dataset_loader,
            dataset_source=loaded.graph.source,
            task=loaded.task,
            seed=s.seed,
            device=plan.device,
            command=s.command or shlex.join(sys.argv),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            versions=library_versions(),
            plugins={n: f"{i.dist} {i.version}" for n, i in self.host.plugins.items() if i.status == "loaded"},
            settings=s.as_dict(),
            resolved=plan.as_dict(),
            checkpoint_metadata={
                **ckpt.metadata,
                "source": ckpt.source,
                "loader_notes": list(ckpt.notes),
                "recorded_scores": dict(ckpt.recorded_scores),
            },
        )
        from gnneval.bench.paired import SPEEDUP_INTERVAL

        if self._old is not None:  # the run keeps its first provenance; each addition is recorded beside it
            prov = _with_addition(self._old.provenance, prov)
            self.log.extend(self._old.problems)
        intervals = {**declared_intervals(self.reg, list(plan.metrics), loaded.task), "bench.speedup": SPEEDUP_INTERVAL}
        return RunResult(
            provenance=prov,
            graph=replace(self._measure.arrays, embedding_nodes=self._rows),
            variants=[],
            problems=self.problems,
            columns=self.columns,
            intervals=intervals,
        )

    def _stored_rows(self, loaded: Loaded) -> Any:
        """The nodes whose embeddings run.h5 keeps (``--store-embeddings``); a run added to keeps its own."""
        from gnneval.store.stored_rows import stored_rows

        s, n = self.s, int(loaded.graph.data.num_nodes)
        if self._old is not None:
            return self._old.graph.embedding_nodes
        rows = stored_rows(s.store_embeddings, n, loaded.task, s.store_sample, s.seed)
        if rows is not None:
            self.console.print(f"embeddings stored: {describe(rows, n)}" + (" (--store-embeddings all keeps every "
                               f"node's; {n:,} nodes is above the {defaults.STORE_ALL_NODES:,} that auto stores whole)"
                               if s.store_embeddings == "auto" else ""), soft_wrap=True, markup=False)  # fmt: skip
        return rows

    def _say_selection(self) -> None:
        plan = self.plan
        assert plan is not None
        self.console.print(
            f"device: {plan.device} ({plan.threads} CPU threads); metrics: "
            f"{', '.join(plan.metrics) or 'none'}; visualisers: "
            f"{', '.join(plan.visualisers) or 'none'}",
            soft_wrap=True,
            markup=False,
        )

    @contextmanager
    def _progress(self) -> Iterator[Any]:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=not self.show_progress,
        ) as bar:
            yield bar
