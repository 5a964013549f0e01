"""What shapes a run: :class:`EvaluateSettings` (frozen, built once from the command line or a manifest), the
settings of each stage it hands out, its checks before any heavy work, variant ids and seeding.

What a run *resolves* — the device it found, the thread count, the run folder, the metrics and visualisers
a selection picks — is recorded in the run's records (:class:`~gnneval.core.records.Provenance`), never
written back into the settings.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gnneval.bench import BACKENDS, DEFAULT_BACKENDS, EXPORTERS, ONNX_GRAPHS, SPARSE_KERNELS
from gnneval.core import defaults
from gnneval.core.errors import UsageError, suggest

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.bench.backends import BenchSettings
    from gnneval.core.registry import Registry
    from gnneval.load.inputs import LoadSettings
    from gnneval.measure.metrics import MetricSettings
    from gnneval.prune.variants import PruneSettings
    from gnneval.show.pictures import ShowSettings

DEFAULT_SPARSITIES = defaults.SPARSITIES

_TUPLES = ("pruners", "backends", "formats", "trackers")
_OPTIONAL_TUPLES = ("metrics", "visualisers", "providers")


@dataclass(frozen=True)
class EvaluateSettings:
    """Everything the user asked of a run; stored with the results.  Lists given are kept as tuples and the
    sparsities without exact repeats (``0.5,0.5`` is one variant)."""

    checkpoint: Path
    pruners: tuple[str, ...]
    sparsities: tuple[float, ...] = defaults.SPARSITIES
    out_dir: Path | None = None
    seed: int = defaults.SEED  #: the first of ``seeds``: the dataset's split, the dense model's metrics
    seeds: tuple[int, ...] = ()  #: ``--seeds``: every seeded variant is made once per seed (empty: ``(seed,)``)
    data_root: str | None = None
    dataset: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    loader: str | None = None
    loader_options: dict[str, Any] = field(default_factory=dict)  #: e.g. ``arch`` and ``arch_kwargs``
    task: str | None = None  #: overrides the checkpoint's task
    transform: str | None = None  #: torch_geometric transforms for the dataset; None: the checkpoint's
    max_params: int = defaults.MAX_PARAMS  #: a checkpoint holding more weights is refused before allocating them
    allow_nonfinite: bool = False  #: evaluate a checkpoint with NaN/Inf weights instead of refusing it
    plugin_timeout_s: float = defaults.PLUGIN_TIMEOUT_S  #: seconds one metric call or one visualiser may take
    threads: int | None = None  #: intra-op threads, fixed for the whole run and recorded (None: torch's default)
    trust: bool = False
    metrics: tuple[str, ...] | None = None  #: a selection (``a,b``, ``+a``, ``-b``); None = the defaults
    visualisers: tuple[str, ...] | None = None  #: a selection as for ``metrics``
    pruner_options: dict[str, Any] = field(default_factory=dict)
    visualiser_options: dict[str, Any] = field(default_factory=dict)  #: ``-o NAME.KEY=VALUE`` for visualisers
    trackers: tuple[str, ...] = ()  #: ``--track NAME[=TARGET]``: experiment trackers the run is sent to
    tracker_options: dict[str, Any] = field(default_factory=dict)  #: ``-o NAME.KEY=VALUE`` for trackers
    finetune_epochs: int = 0  #: retrain every pruned variant this many epochs (masks fixed; early stopping)
    bench: bool = True
    bench_budget_s: float = defaults.BENCH_BUDGET_S
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    providers: tuple[str, ...] | None = None  #: force ONNX Runtime execution providers
    onnx_exporter: str = "auto"  #: see :func:`gnneval.core.defaults.auto_exporter`, or ``dynamo`` / ``torchscript``
    onnx_graph: str = "auto"  #: message passing in the ONNX export: ``auto``, ``sparse`` or ``scatter``
    sparse_input: bool = False  #: ``torch-sparse``: the layer reading the node features multiplies them as CSR
    sparse_kernels: str = SPARSE_KERNELS[0]  #: ``torch-sparse``: ``csr`` or ``2:4`` (semi-structured, CUDA)
    save_pruned: bool = False  #: write every variant (and the dense model) as a compressed native checkpoint
    overwrite: bool = False  #: replace a run already in ``out_dir`` (else the new variants are added to it)
    layer: str | None = None  #: the layer shown (console, pictures, report); None: the last hidden layer
    inference: str = "auto"  #: ``full``, ``sparse``, ``layerwise`` or ``auto`` (see gnneval.model.inference)
    split: str | None = None  #: ``--split FILE``: the train/val/test items the model was trained with
    store_embeddings: str = "auto"  #: ``auto``, ``all``, ``sample`` or ``none`` (see gnneval.store.stored_rows)
    store_sample: int = defaults.STORE_SAMPLE  #: nodes kept under ``--store-embeddings sample``
    metric_sample: int = defaults.METRIC_SAMPLE  #: nodes in the shared sample for O(n^2) metrics
    metric_nodes: int = defaults.METRIC_NODES  #: nodes O(N) metrics use at most (a seeded sample above)
    bootstrap: int = defaults.BOOTSTRAP  #: bootstrap resamples for confidence intervals
    device: str = defaults.DEVICE  #: ``auto``: CUDA where available, else the CPU; the run records which it used
    formats: tuple[str, ...] = ("png",)
    command: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "checkpoint", Path(self.checkpoint))
        for name in _TUPLES:
            set_(self, name, tuple(getattr(self, name)))
        for name in _OPTIONAL_TUPLES:
            if getattr(self, name) is not None:
                set_(self, name, tuple(getattr(self, name)))
        set_(self, "sparsities", tuple(unique_sparsities(list(self.sparsities))))
        seeds = tuple(dict.fromkeys(int(x) for x in self.seeds or ())) or (int(self.seed),)
        set_(self, "seeds", seeds)
        set_(self, "seed", seeds[0])

    def as_dict(self) -> dict[str, Any]:
        """Every setting as plain JSON data (what ``/provenance`` stores)."""
        out = {}
        for k, v in asdict(self).items():
            out[k] = str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
        return out

    # -- the settings each stage gets, whole ---------------------------------------------------------------
    def load_settings(self) -> LoadSettings:
        from gnneval.load.inputs import LoadSettings

        return LoadSettings(
            checkpoint=self.checkpoint,
            seed=self.seed,
            data_root=self.data_root,
            dataset=self.dataset,
            dataset_options=dict(self.dataset_options),
            loader=self.loader,
            loader_options=dict(self.loader_options),
            task=self.task,
            trust=self.trust,
            device=self.device,
            transform=self.transform,
            max_params=self.max_params,
            allow_nonfinite=self.allow_nonfinite,
            split=self.split,
        )

    def prune_settings(self) -> PruneSettings:
        from gnneval.prune.variants import PruneSettings

        return PruneSettings(
            pruners=self.pruners,
            sparsities=self.sparsities,
            options=dict(self.pruner_options),
            finetune_epochs=self.finetune_epochs,
            seed=self.seed,
            seeds=self.seeds,
        )

    def metric_settings(self) -> MetricSettings:
        from gnneval.measure.metrics import MetricSettings

        return MetricSettings(self.seed, self.metric_sample, self.bootstrap, self.plugin_timeout_s, self.metric_nodes)

    def bench_settings(self) -> BenchSettings:
        from gnneval.bench.backends import BenchSettings

        return BenchSettings(
            enabled=self.bench,
            backends=self.backends,
            budget_s=self.bench_budget_s,
            providers=self.providers,
            exporter=self.onnx_exporter,
            onnx_graph=self.onnx_graph,
            sparse_input=self.sparse_input,
            sparse_kernels=self.sparse_kernels,
        )

    def show_settings(self, threads: int | None) -> ShowSettings:
        """``threads``: what the run resolved (pictures draw that many at once)."""
        from gnneval.show.pictures import ShowSettings

        return ShowSettings(
            formats=self.formats,
            seed=self.seed,
            timeout_s=self.plugin_timeout_s,
            workers=threads,
            options=dict(self.visualiser_options),
        )


@dataclass(frozen=True)
class Resolved:
    """What a run decided from its settings and the machine, recorded in ``/provenance`` as ``resolved``."""

    out_dir: Path
    metrics: tuple[str, ...]
    visualisers: tuple[str, ...]
    threads: int = 0
    device: str = "cpu"
    split: str = ""  #: the split evaluated on, and where it came from
    inference: str = "edge_index"  #: how the forward passes received the graph: edge_index, sparse or layerwise
    stored_embeddings: str = "all"  #: whose embeddings run.h5 keeps: ``all``, ``none`` or the sample, in words

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "metrics": list(self.metrics),
            "visualisers": list(self.visualisers),
            "threads": self.threads,
            "device": self.device,
            "split": self.split,
            "inference": self.inference,
            "stored_embeddings": self.stored_embeddings,
        }


def validate_sparsity(value: float) -> float:
    if not (0.0 <= value < 1.0):
        raise UsageError(f"sparsity {value:g} is outside [0, 1); give fractions such as 0.3,0.5,0.9")
    return value


def unique_sparsities(values: list[float]) -> list[float]:
    """The sparsities in order with exact repeats dropped (``0.5,0.5`` is one variant; ``-0.0`` is ``0.0``)."""
    return list(dict.fromkeys(float(v) + 0.0 for v in values))


def variant_id(pruner: str, sparsity: float, all_sparsities: list[float] | None = None) -> str:
    """``pruner@0.50``: two decimals, or as many as it takes to tell the run's sparsities apart
    (``0.5`` and ``0.501`` give ``@0.500`` and ``@0.501``) and never to round a sparsity below 1 up to
    ``1.00`` (``0.999`` is ``@0.999``)."""
    others = sorted({float(s) + 0.0 for s in (all_sparsities or [sparsity])} | {float(sparsity) + 0.0})
    for digits in range(2, 17):
        labels = [f"{s:.{digits}f}" for s in others]
        if len(set(labels)) == len(others) and not any(label.startswith("1.") for label in labels):
            return f"{pruner}@{float(sparsity) + 0.0:.{digits}f}"
    return f"{pruner}@{sparsity!r}"


def default_run_dir(checkpoint: Path, pruners: list[str]) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{checkpoint.stem}-{'+'.join(pruners)}-{stamp}"


def seed_everything(seed: int) -> None:

    import numpy as np
    import torch

    from gnneval.core.process import threads_from_env

    threads = threads_from_env()  # set by `gnneval batch` for each worker process
    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fix_threads(threads: int | None) -> int:
    """Fix PyTorch's intra-op thread count for the whole run (timings are comparable only at one count)."""
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    return int(torch.get_num_threads())


def _expand_groups(registry: Registry, kind: str, items: list[str]) -> list[str]:
    """``+GROUP`` / ``-GROUP`` / ``GROUP`` (a name some plugins declare in ``groups``) as the group's members."""
    names = registry.names(kind)
    out = []
    for item in items:
        sign, name = (item[0], item[1:]) if item[0] in "+-" else ("", item)
        members = (
            [] if name in names else [n for n in names if name in getattr(registry.get(kind, n).obj, "groups", ())]
        )
        if not members:
            out.append(item)
        elif sign == "-":  # remove the group's members that are among the defaults
            out += ["-" + m for m in members if m in registry.default_names(kind)]
        else:
            out += [sign + m for m in members]
    return out


def resolve_selection(registry: Registry, kind: str, selection: list[str] | None) -> list[str]:
    """The names a ``--metrics`` / ``--visualisers`` selection picks: None is the registered defaults;
    ``+name`` adds to the defaults, ``-name`` removes from them; a bare list replaces them.  ``+`` and
    ``-`` items may be mixed; bare names may not be mixed with them.  Unknown names are a UsageError."""
    defaults = registry.default_names(kind)
    if selection is None:
        return defaults
    items = _expand_groups(registry, kind, [s.strip() for s in selection if s.strip()])
    relative = [s for s in items if s[0] in "+-"]
    if relative and len(relative) != len(items):
        raise UsageError(
            f"--{kind}s mixes names with +/- items ({', '.join(items)}): give either a list that "
            f"replaces the defaults, or +NAME / -NAME changes to them"
        )
    for item in items:
        registry.get(kind, item.lstrip("+-"))
    if not relative:
        return list(dict.fromkeys(items))
    chosen = list(defaults)
    for item in relative:
        name = item[1:]
        if item[0] == "+" and name not in chosen:
            chosen.append(name)
        elif item[0] == "-":
            if name not in chosen:
                raise UsageError(
                    f"--{kind}s -{name}: '{name}' is not among the defaults"
                    f"{suggest(name, chosen)}; defaults: {', '.join(defaults)}"
                )
            chosen.remove(name)
    return chosen


def validate(s: EvaluateSettings, registry: Registry) -> None:
    """Every check that needs no model or data, so that bad input fails in a second with one line."""
    if not s.pruners:
        raise UsageError("no pruner given; pass --pruner NAME (see `gnneval plugins`)")
    for name in s.pruners:
        registry.get("pruner", name)
    for name, opts in s.pruner_options.items():
        if name not in s.pruners:
            raise UsageError(f"option for pruner '{name}', which is not among --pruner {','.join(s.pruners)}")
        registry.instantiate("pruner", name, **opts)  # an option the pruner does not accept fails here
    for name, opts in s.visualiser_options.items():
        registry.instantiate("visualiser", name, **opts)
    if not s.sparsities:
        raise UsageError("no sparsity given; pass --sparsity 0.3,0.5,0.7,0.9 for example")
    for sp in s.sparsities:
        validate_sparsity(sp)
    _validate_bench(s)
    if s.metric_nodes < 10:
        raise UsageError(f"--metric-nodes {s.metric_nodes} is too small; use at least 10 nodes")
    if s.metric_sample < 10:
        raise UsageError(f"--metric-sample {s.metric_sample} is too small; use at least 10 nodes")
    if s.bootstrap < 0:
        raise UsageError("--bootstrap must be 0 (no intervals) or more resamples")
    if s.transform:
        from gnneval.load.transforms import parse_transforms

        parse_transforms(s.transform)
    if s.finetune_epochs < 0:
        raise UsageError("--finetune-epochs must be 0 or more")
    resolve_selection(registry, "metric", s.metrics)
    resolve_selection(registry, "visualiser", s.visualisers)
    if s.out_dir is not None:
        check_out_dir(Path(s.out_dir))
    if not s.checkpoint.exists():
        raise UsageError(f"checkpoint {s.checkpoint} does not exist; give the path of a checkpoint file")


def check_out_dir(out: Path) -> None:
    """``--out`` must be a folder gnneval can write (or create): one line before any heavy work otherwise."""
    import os

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is an existing file, not a folder; give a folder for the run")
    parent = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {parent} is not writable; choose a folder you can write to")


def _validate_bench(s: EvaluateSettings) -> None:

    for b in s.backends:
        if b not in BACKENDS:
            raise UsageError(f"unknown benchmark backend '{b}'{suggest(b, BACKENDS)}; use {', '.join(BACKENDS)}")
    if s.onnx_exporter not in EXPORTERS:
        raise UsageError(f"unknown ONNX exporter '{s.onnx_exporter}'; use {', '.join(EXPORTERS)}")
    if s.onnx_graph not in ONNX_GRAPHS:
        raise UsageError(f"unknown --onnx-graph '{s.onnx_graph}'; use {', '.join(ONNX_GRAPHS)}")
    if s.sparse_kernels not in SPARSE_KERNELS:
        raise UsageError(f"unknown --sparse-kernels '{s.sparse_kernels}'; use {', '.join(SPARSE_KERNELS)}")
