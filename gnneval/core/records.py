"""Typed results passed between the pipeline, the plugins, storage and the report.

Nothing here imports torch: arrays are NumPy arrays once a variant has been
evaluated, so results can be written, read back and drawn without a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from statistics import fmean, stdev
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import numpy as np


SEED_MARK = "~s"
"""Between a variant's id and its seed, for the repeats of ``--seeds``: ``random@0.90~s1``."""


@dataclass(frozen=True)
class Spread:
    """A value's spread over the repeats of one variant (``--seeds``): the mean is the row's value."""

    sd: float  #: sample standard deviation (ddof=1); NaN for a single repeat
    n: int  #: repeats with a value
    values: tuple[float, ...] = ()  #: each repeat's value, in seed order


@dataclass
class Problem:
    """Something that failed without stopping the run (a plugin, a variant, a plot)."""

    where: str  #: e.g. ``"pruner 'structured' at sparsity 0.9"`` or ``"plugin 'umap' (gnneval 0.1.0)"``
    message: str  #: one line: what went wrong


@dataclass
class GraphArrays:
    """The parts of a dataset that metrics and visualisers need, as NumPy arrays."""

    name: str
    task: str
    y: np.ndarray  #: [N] int64 class labels (graph classification: [G], one per graph)
    masks: dict[str, np.ndarray]  #: split name (``train``/``val``/``test``) -> [N] bool (graph classification: [G])
    edge_index: np.ndarray  #: [2, E] int64 (for link prediction: the message-passing edges)
    num_classes: int
    num_features: int
    link: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """Link prediction: split (``val``/``test``) -> (edge_label_index [2, M], edge_label [M] in {0, 1})."""
    batch: np.ndarray | None = None  #: graph classification: [N] int64, the graph each node belongs to
    evaluator: str = ""  #: the dataset's official evaluator (``ogbn-arxiv``), or ``""``
    link_negatives: int = 0  #: ranked link prediction: negatives per positive (see ``GraphData.link_negatives``)
    embedding_nodes: np.ndarray | None = None
    """The nodes whose embeddings and logits run.h5 keeps, sorted (``--store-embeddings sample``; empty for
    ``none``); None: every node."""

    @property
    def num_nodes(self) -> int:
        return int(self.batch.shape[0]) if self.batch is not None else int(self.y.shape[0])

    @property
    def num_graphs(self) -> int:
        """Graphs in the dataset (1 for node-level tasks)."""
        return int(self.y.shape[0]) if self.batch is not None else 1

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])


ROLES = ("", "headline", "agreement", "similarity")
"""What a summary column means to the rest of gnneval: ``headline`` is the task's score (the summary leads
with it, shows its change against dense, and curves, the pareto plot, the batch leaderboard and the
stored-score check use it); ``agreement`` is agreement with the dense model's predictions; ``similarity``
(a layer metric) is similarity to the dense model's layer (the batch leaderboard shows it); ``""`` is just
a column."""


@dataclass(frozen=True)
class Column:
    """A column a metric declares for the summary (``Metric.summary``)."""

    label: str  #: the column header, a few characters (``"test acc"``)
    format: str = "{:.3f}"  #: a ``str.format`` pattern for the value (``"{:.1%}"`` for a share)
    role: str = ""  #: one of :data:`ROLES`
    help: str = ""  #: one short sentence for the table's caption: what the column means

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown column role {self.role!r}; use one of {', '.join(map(repr, ROLES))}")
        self.format.format(0.5)  # a bad pattern fails at registration, not in the summary

    @staticmethod
    def share(label: str, role: str = "", help: str = "") -> Column:
        """A column of shares shown as percentages (``0.812`` -> ``81.2%``)."""
        return Column(label, "{:.1%}", role, help)


@dataclass(frozen=True)
class ShownColumn:
    """A declared column as stored with a run: which stored key it shows and how."""

    key: str  #: ``"<metric>.<key>"``
    level: str  #: ``variant`` or ``layer``
    label: str
    format: str
    role: str
    help: str = ""

    def fmt(self, value: float | None) -> str:
        if value is None or value != value:  # None or NaN
            return "-"
        return self.format.format(value)


@dataclass
class VariantOutputs:
    """What one model variant computed on the dataset."""

    logits: np.ndarray  #: [N, C] float32, the model's output
    predictions: np.ndarray  #: [N] int64, ``argmax`` of the logits
    embeddings: dict[str, np.ndarray]  #: layer name -> [N, d] float32, in call order
    rows: np.ndarray | None = None
    """The nodes ``logits`` and ``embeddings`` hold, in row order, when run.h5 keeps a sample
    (``--store-embeddings sample``; :func:`gnneval.plugin.helpers.rows_of`); None: every node."""

    def last_hidden_layer(self) -> str | None:
        """The output of the last message-passing layer that feeds the head or the pooling: the last layer,
        unless the last layer's output *is* the model's output (same shape, and the same values or at least the
        same argmax everywhere, as after a log-softmax), in which case the layer before it.  None without layers."""
        import numpy as np

        names = list(self.embeddings)
        if not names:
            return None
        last = self.embeddings[names[-1]]
        predictions = self.predictions if self.rows is None else self.predictions[self.rows]
        is_output = last.shape == self.logits.shape and (
            np.allclose(last, self.logits, rtol=1e-4, atol=1e-5)
            or (last.ndim == 2 and last.shape[1] > 1 and bool((last.argmax(1) == predictions).all()))
        )
        return names[-2] if is_output and len(names) >= 2 else names[-1]


@dataclass
class BenchResult:
    """Latency of one variant on one backend."""

    backend: str  #: e.g. ``"torch"`` or ``"onnxruntime"``
    device: str  #: ``"cpu"`` or ``"cuda"``
    median_ms: float
    p10_ms: float
    p90_ms: float
    runs: int
    warmup: int
    threads: int
    throughput_nodes_per_s: float
    peak_memory_bytes: int
    note: str = ""
    status: str = "ok"  #: ``ok``, ``mismatch`` (outputs disagree with PyTorch: not timed), ``skipped`` or ``failed``
    max_abs_diff: float = 0.0  #: exported model against PyTorch on the same input (ONNX Runtime)
    model_bytes: int = 0  #: size of the exported model file (ONNX Runtime)
    providers: str = ""  #: execution providers the session actually used (ONNX Runtime)
    setup_s: float = 0.0  #: export / compilation time before timing
    onnx_graph: str = ""  #: ONNX Runtime: ``sparse`` (CSR adjacency + SparseToDenseMatMul) or ``scatter`` (edge_index)
    speedup: float = 0.0  #: dense / variant latency, the median of pairs timed interleaved (0: not paired)
    speedup_ci_low: float = 0.0  #: its 95% confidence interval (order statistics)
    speedup_ci_high: float = 0.0
    paired_runs: int = 0  #: pairs timed; 0: the variant was timed alone (the dense model, or not paired)
    noisy: bool = False  #: the speed-up should not be trusted (see ``noise``)
    noise: str = ""  #: why it was flagged: a wide interval, the dense model's drift, a busy machine


@dataclass
class VariantResult:
    """One model variant: the dense model or one pruner at one sparsity."""

    id: str  #: ``"dense"`` or ``"<pruner>@<sparsity>"``
    pruner: str | None
    sparsity: float  #: the sparsity that was asked for (0 for the dense model)
    status: str = "ok"  #: ``"ok"`` or ``"failed"``
    error: str = ""
    params: int = 0  #: parameters (tensors' elements), after physical removal
    nonzero_params: int = 0
    size_bytes: int = 0  #: bytes of parameters and buffers as stored densely
    flops: int = 0  #: inference FLOPs with dense kernels (linear algebra + message passing)
    flops_sparse: int = 0  #: FLOPs a sparse kernel would need (zeros skipped)
    training_flops: float = 0.0  #: FLOPs spent training to produce the variant (pruner + fine-tuning)
    checkpoint_bytes: int = 0  #: ``--save-pruned``: bytes on disk of its compressed native checkpoint
    edges: int = 0  #: edges of the graph the variant ran on (fewer for graph sparsifiers)
    weight_sparsity: float = 0.0  #: 1 - nonzero_params / dense params
    param_reduction: float = 0.0  #: 1 - params / dense params
    layer_sparsity: dict[str, float] = field(default_factory=dict)  #: weight tensor -> fraction zero or removed
    weight_histograms: dict[str, list[int]] = field(default_factory=dict)
    """Weight tensor -> |w| histogram: [zeros, < 1e-6, one count per ``accounting.HIST_EDGES`` bin, > 10]."""
    metrics: dict[str, float] = field(default_factory=dict)  #: ``"metric.key"`` -> value
    layer_metrics: dict[str, dict[str, float]] = field(default_factory=dict)  #: layer -> ``"metric.key"`` -> value
    details: dict[str, Any] = field(default_factory=dict)  #: what the pruner reported
    outputs: VariantOutputs | None = None
    bench: list[BenchResult] = field(default_factory=list)
    seconds: float = 0.0  #: wall time to prune and evaluate
    seed: int | None = None
    """``--seeds``: the seed this repeat was made with (its id ends ``~s<seed>``); None: made once."""
    deterministic: bool = False
    """``--seeds``: made once although the run repeats seeds, because nothing in it depends on the seed."""
    spread: dict[str, Spread] = field(default_factory=dict)
    """Derived, never stored: for a row of :meth:`RunResult.summarised`, ``"metric.key"`` (or
    ``"<layer>/metric.key"``) -> the spread over its repeats."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def group(self) -> str:
        """The id of the (pruner, sparsity) it repeats: its id without the ``~s<seed>`` ending."""
        return self.id.rsplit(SEED_MARK, 1)[0] if self.seed is not None else self.id


@dataclass
class Provenance:
    """Everything needed to reproduce the numbers of a run."""

    checkpoint_path: str
    checkpoint_sha256: str
    checkpoint_loader: str
    architecture: str
    architecture_kwargs: dict[str, Any]
    dataset: str
    dataset_loader: str
    dataset_source: str
    task: str
    seed: int
    device: str
    command: str
    created: str
    versions: dict[str, str]  #: python, torch, torch_geometric, numpy, gnneval, ...
    plugins: dict[str, str]  #: plugin name -> "distribution version"
    settings: dict[str, Any]  #: every setting as the user gave it
    checkpoint_metadata: dict[str, Any] = field(default_factory=dict)
    resolved: dict[str, Any] = field(default_factory=dict)
    """What the run decided from its settings and the machine: ``out_dir``, ``metrics`` and ``visualisers`` (what a
    selection picked and ran), ``threads``, ``device``."""


@dataclass
class RunResult:
    """A whole ``gnneval evaluate`` run, as written to (and read back from) HDF5."""

    provenance: Provenance
    graph: GraphArrays
    variants: list[VariantResult]
    problems: list[Problem] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  #: label -> path of a plot or other output
    columns: list[ShownColumn] = field(default_factory=list)  #: what the metrics that ran declared to show
    captions: dict[str, str] = field(default_factory=dict)  #: file label -> its visualiser's ``caption``
    ranks: dict[str, int] = field(default_factory=dict)  #: file label -> its visualiser's ``rank`` (report order)
    intervals: dict[str, str] = field(default_factory=dict)  #: ``"<metric>.<key>"`` -> how its interval was made

    def column(self, role: str) -> ShownColumn | None:
        """The first declared column with ``role`` (``headline``, ``agreement``, ``similarity``), if any."""
        return next((c for c in self.columns if c.role == role), None)

    @property
    def headline(self) -> ShownColumn | None:
        """The task's score, as declared by a metric (``role="headline"``); None if no metric declared one."""
        return self.column("headline")

    def require_headline(self) -> ShownColumn:
        """:attr:`headline`, or a LookupError that says how to get one (for pictures that plot the score)."""
        if self.headline is None:
            raise LookupError(
                "no metric in this run declares the task's score (a summary column with "
                "role='headline'); add one, e.g. --metrics +accuracy"
            )
        return self.headline

    def variant(self, variant_id: str) -> VariantResult:
        for v in self.variants:
            if v.id == variant_id:
                return v
        raise KeyError(variant_id)

    @property
    def dense(self) -> VariantResult:
        return self.variant("dense")

    def layer_role(self, layer: str) -> str:
        """How ``layer`` came to be shown, for titles: ``"last hidden layer"``, or ``"chosen with --layer"``."""
        outputs = self.dense.outputs
        derived = outputs.last_hidden_layer() if outputs is not None and outputs.embeddings else None
        return (
            "chosen with --layer" if self.provenance.settings.get("layer") and layer != derived else "last hidden layer"
        )

    def summarised(self) -> RunResult:
        """This run with one row per (pruner, sparsity): the repeats of ``--seeds`` as their mean, with
        :attr:`VariantResult.spread`; the run itself when nothing was repeated."""
        return summarise(self)

    @property
    def seeds(self) -> list[int]:
        """The seeds the run's seeded variants were repeated with (one seed: ``[seed]``)."""
        return list(self.provenance.settings.get("seeds") or [self.provenance.seed])

    def shown_layer(self) -> str | None:
        """The layer the console, the pictures and the report show: the one ``--layer`` named, else the dense
        model's last hidden layer (:meth:`VariantOutputs.last_hidden_layer`).  Every layer stays in run.h5."""
        outputs = self.dense.outputs
        chosen = self.provenance.settings.get("layer")
        if chosen and (outputs is None or chosen in outputs.embeddings or chosen in self.dense.layer_metrics):
            return str(chosen)
        if outputs is not None and outputs.embeddings:
            return outputs.last_hidden_layer()
        layers = list(self.dense.layer_metrics)
        return (layers[-2] if len(layers) >= 2 else layers[-1]) if layers else None

    @property
    def pruners(self) -> list[str]:
        seen: list[str] = []
        for v in self.variants:
            if v.pruner and v.pruner not in seen:
                seen.append(v.pruner)
        return seen


# -- the repeats of --seeds summarised ---------------------------------------------------------------------
# One row per (pruner, sparsity) with the mean of every number its repeats share and their sample standard
# deviation (ddof=1) and count, as Spread.  A repeat that failed is left out of the mean (the row's details
# name it); a group whose repeats all failed stays failed with the first repeat's error.  The row keeps the
# first repeat's outputs (embeddings, predictions) and timings: pictures of embeddings draw that repeat, and
# only it was timed.  Bootstrap intervals (*_ci_low / *_ci_high) of single repeats are not averaged: over
# repeats the spread is the sd.
_INTERVAL_ENDS = ("_ci_low", "_ci_high")


def summarise(run: RunResult) -> RunResult:
    """``run`` with its repeats merged (see above); the run itself when it has none."""
    if not any(v.seed is not None for v in run.variants):
        return run
    rows: list[VariantResult] = []
    groups: dict[str, list[VariantResult]] = {}
    for v in run.variants:
        if v.group not in groups:
            groups[v.group] = []
            rows.append(v)
        groups[v.group].append(v)
    return replace(run, variants=[_merge(groups[v.group]) if v.seed is not None else v for v in rows])


def spread_of(values: list[float]) -> Spread:
    """The sample sd (ddof=1, NaN for one value) and count of the finite ``values``."""
    finite = [x for x in values if math.isfinite(x)]
    return Spread(stdev(finite) if len(finite) > 1 else math.nan, len(finite), tuple(values))


def _merge(repeats: list[VariantResult]) -> VariantResult:
    ok = [v for v in repeats if v.ok]
    first = ok[0] if ok else repeats[0]
    row = replace(first, id=first.group, seed=None, metrics={}, layer_metrics={}, spread={})
    if not ok:
        return row
    row.metrics, spread = _mean(ok, lambda v: v.metrics)
    row.spread.update(spread)
    for layer in first.layer_metrics:

        def of_layer(v: VariantResult, layer: str = layer) -> dict[str, float]:
            return v.layer_metrics.get(layer, {})

        row.layer_metrics[layer], spread = _mean(ok, of_layer)
        row.spread.update({f"{layer}/{k}": s for k, s in spread.items()})
    row.weight_sparsity = fmean(v.weight_sparsity for v in ok)
    row.details = {**first.details, "repeats": [v.id for v in repeats],
                   "failed_repeats": [v.id for v in repeats if not v.ok]}  # fmt: skip
    return row


def _mean(
    ok: list[VariantResult], of: Callable[[VariantResult], dict[str, float]]
) -> tuple[dict[str, float], dict[str, Spread]]:
    keys = [k for k in of(ok[0]) if not k.endswith(_INTERVAL_ENDS)]
    means: dict[str, float] = {}
    spreads: dict[str, Spread] = {}
    for k in keys:
        values = [of(v).get(k, math.nan) for v in ok]
        s = spread_of(values)
        finite = [x for x in values if math.isfinite(x)]
        means[k] = fmean(finite) if finite else math.nan
        spreads[k] = s
    return means, spreads
