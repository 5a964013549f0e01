"""The public API for plugin authors.

A plugin is a module (or any object) with functions marked ``@hookimpl``
named after the hook specifications in :mod:`gnneval.core.hookspecs`, published
through the ``gnneval`` entry-point group::

    # pyproject.toml of your distribution
    [project.entry-points.gnneval]
    snip = "gnneval_snip"

    # gnneval_snip.py
    from gnneval.core.contract import Pruner, PruneOutcome, hookimpl

    class SnipPruner(Pruner):
        structured = False
        def prune(self, model, sparsity, ctx):
            ...
            return PruneOutcome(model=model, masks=masks)

    @hookimpl
    def gnneval_register_pruners(register):
        register.add_pruner("snip", SnipPruner, description="SNIP saliency (Lee et al. 2019)")

The built-in plugins of gnneval use exactly this API.  Keep heavy imports
(torch, torch_geometric, umap) inside methods so that ``gnneval plugins``
stays fast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pluggy

from gnneval.core import defaults
from gnneval.core.errors import PluginError
from gnneval.core.records import Column, GraphArrays, RunResult, VariantOutputs, VariantResult

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch
    from torch_geometric.data import Data

PROJECT = "gnneval"
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marker for hook implementations: ``@hookimpl def gnneval_register_pruners(register): ...``."""

API_VERSION = "1.3"
"""The plugin API's own version (``major.minor``).  A minor release only adds; a major one may remove
what was deprecated for at least one minor release.  Plugins can require it with :func:`require_api`."""

Task = Literal["node-classification", "link-prediction", "graph-classification"]
Level = Literal["variant", "layer"]
Status = Literal["ok", "failed"]
TASKS: tuple[Task, ...] = ("node-classification", "link-prediction", "graph-classification")
"""Tasks the evaluation pipeline knows how to run.  For link prediction the model is an encoder:
its output rows are node embeddings and an edge (u, v) is scored by their dot product."""


def require_api(spec: str) -> None:
    """Fail a plugin's import, by name, when this gnneval's plugin API does not satisfy ``spec``.

    ``spec`` is ``"1"`` (any 1.x), ``"1.2"`` (1.2 or a later 1.x) or ``">=1.2"`` (1.2 or anything later).
    Call it at the top of your plugin module: ``require_api("1.0")``.  ``gnneval plugins`` then lists
    the plugin as failed with the reason instead of loading it into a gnneval it was not written for.

    :raises PluginError: naming both versions.
    """
    want = spec.strip()
    open_ended = want.startswith(">=")
    want = want.removeprefix(">=").strip()
    try:
        parts = [int(x) for x in want.split(".")]
    except ValueError:
        raise PluginError(f"require_api({spec!r}): give a version such as '1.0' or '>=1.0'") from None
    major, minor = (parts + [0])[:2]
    have_major, have_minor = (int(x) for x in API_VERSION.split("."))
    ok = (have_major, have_minor) >= (major, minor) and (open_ended or have_major == major)
    if not ok:
        raise PluginError(f"needs gnneval plugin API {spec}, but this gnneval provides {API_VERSION}")


# --------------------------------------------------------------------------- data passed to plugins


@dataclass
class DatasetRef:
    """Which dataset a checkpoint was trained on, as recorded in its metadata."""

    name: str  #: e.g. ``"Cora"``
    loader: str | None = None  #: dataset loader plugin name, e.g. ``"planetoid"``
    split: str = "public"
    options: dict[str, Any] = field(default_factory=dict)
    transform: str = ""  #: torch_geometric transforms the model was trained with, e.g. ``"NormalizeFeatures"``


@dataclass
class LoadedCheckpoint:
    """What a checkpoint loader returns: a ready model plus what is known about it."""

    model: torch.nn.Module
    architecture: str  #: registered architecture name (``"gcn"``), or a descriptive name
    architecture_kwargs: dict[str, Any]
    task: str | None  #: e.g. ``"node-classification"``; None when the file does not say
    dataset: DatasetRef | None
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else the file records (training recipe, versions...): stored with the run as provenance,
    never interpreted by the pipeline."""
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  #: a saved pruned variant's masks (True = kept)
    recorded_scores: dict[str, float] = field(default_factory=dict)
    """Scores the file says the model reached, by metric key (``"accuracy.test"``): after evaluating the
    dense model the pipeline compares each with what it measured and warns when they disagree."""
    notes: list[str] = field(default_factory=list)
    """What the loader inferred or repaired, one decision per line (printed, and stored in the run)."""
    source: str = ""  #: what kind of file this was, in a few words (``"state_dict in a training dict"``)
    prunable: bool = True  #: False when the format keeps no editable weights (e.g. ONNX): pruners are skipped
    split: dict[str, Any] = field(default_factory=dict)
    """The ``train``/``val``/``test`` items the file says the model was trained with (indices or boolean masks,
    tensors or lists): evaluated on unless ``--split FILE`` names another."""
    undecided: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """Architecture arguments the tensors cannot decide (activations, pooling), argument -> its candidate
    values, the one built first.  Once the dataset is loaded the pipeline builds every combination with the
    same weights, keeps the one with the best accuracy on the training and validation items (the built one
    unless another is clearly better) and says which it tried and why it chose; ``--arch-option`` fixes
    one."""


@dataclass
class GraphData:
    """A loaded dataset: one graph with labels and split masks.

    Node classification: ``y`` and the masks are per node.  Link prediction: also
    ``{val,test}_edge_label(_index)``.  Graph classification: the dataset is one disjoint-union
    graph with ``batch`` (the graph of every node); ``y`` and the masks are per graph, and models
    take ``(x, edge_index, batch)``."""

    name: str
    task: str
    data: Data  #: torch_geometric ``Data`` with ``x``, ``edge_index``, ``y`` and ``*_mask``
    num_features: int
    num_classes: int
    source: str  #: where the files came from (a path, or "generated")
    split: str = "public"
    adjacency: str = "edge_index"
    """How models receive the graph: ``edge_index``, or ``sparse`` — a CSR adjacency (``adj_t``) that torch_geometric's
    GCN, GraphSAGE, GIN and GraphConv layers multiply by the features (spmm) without one message per edge and
    channel (``--inference sparse``), or ``layerwise`` — ``edge_index``, each message-passing layer run over batches
    of nodes with all their neighbours (``--inference layerwise``, :mod:`gnneval.model.layerwise`)."""
    evaluator: str = ""
    """The dataset's official evaluator, when it has one (``ogbn-arxiv``: OGB's ``Evaluator``): metrics that
    ``require`` it apply, and their headline is the run's."""
    link_negatives: int = 0
    """Ranked link prediction (MRR, ``ogbl-citation2``): the negatives each positive pair is ranked against.  The
    ``{val,test}_edge_label_index`` pairs are then the P positives, then P x K negatives, positive ``i``'s at
    ``P + i*K ... P + i*K + K - 1``.  0: positives and negatives are pooled (ROC-AUC, Hits@K)."""

    def arrays(self) -> GraphArrays:
        """The labels, masks and edges as NumPy arrays (for metrics, storage and plots).  ``edge_index`` is a
        read-only view of the tensor's memory where it can be (a copy of ogbn-products' edges is 1 GiB)."""
        d = self.data
        edge_index = d.edge_index.cpu().numpy().astype("int64", copy=False)
        if edge_index.base is not None:  # shares the tensor's memory: nothing may write through it
            edge_index.flags.writeable = False
        masks = {s: getattr(d, f"{s}_mask").cpu().numpy().astype(bool) for s in ("train", "val", "test")}
        link = {}
        for split in ("val", "test"):
            index = getattr(d, f"{split}_edge_label_index", None)
            if index is not None:
                link[split] = (
                    index.cpu().numpy().astype("int64"),
                    getattr(d, f"{split}_edge_label").cpu().numpy().astype("int64"),
                )
        return GraphArrays(
            name=self.name,
            task=self.task,
            y=d.y.cpu().numpy().astype("int64"),
            masks=masks,
            edge_index=edge_index,
            num_classes=self.num_classes,
            num_features=self.num_features,
            link=link,
            batch=d.batch.cpu().numpy().astype("int64") if getattr(d, "batch", None) is not None else None,
            evaluator=self.evaluator,
            link_negatives=self.link_negatives,
        )


@dataclass
class PruneOutcome:
    """What a pruner returns.

    ``model`` may be the model it was given, changed in place, or a new one; it must take the same
    inputs and give outputs of the same shape as the dense model, with finite weights.
    ``masks`` maps a parameter name (as in ``model.named_parameters()``) to a
    boolean tensor of the same shape, True where the weight is kept; the
    pipeline re-applies masks after any step that could revive a weight (fine-tuning).
    **Unstructured pruners must return masks**, and the masks must agree with the zeros (every
    masked weight is zero after pruning); the testing kit's ``check_pruner`` fails otherwise.  The
    sparsity the summary shows is counted from the model's zeros (and removed parameters), never
    taken from the pruner's word, and a pruner that reaches less than it was asked is reported.
    Structured pruners that remove channels physically return no masks.
    A graph sparsifier (which removes edges rather than weights) returns the
    sparsified dataset in ``graph``; the variant is then evaluated, counted and
    timed on it.
    """

    model: torch.nn.Module
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  #: e.g. channels kept per layer
    graph: GraphData | None = None  #: a sparsified graph (edges removed) to evaluate this variant on
    training_flops: float = 0.0  #: FLOPs the pruner spent training (see ``gnneval.prune.training``); 0 for one-shot


@dataclass
class LoadContext:
    """Given to checkpoint loaders."""

    trust: bool  #: the user allowed full (code-running) unpickling with ``--trust``
    options: dict[str, Any]
    _build: Any = None
    max_params: int = defaults.MAX_PARAMS
    """``--max-params``: a file holding more weights is refused before they are allocated (check sizes a
    file declares with ``check_total`` and ``check_declared_sizes``)."""

    def build_model(self, architecture: str, **kwargs: Any) -> torch.nn.Module:
        """Build a registered architecture by name (raises UsageError if unknown)."""
        return self._build(architecture, **kwargs)


@dataclass
class DatasetContext:
    """Given to dataset loaders."""

    root: Path | None  #: a data root the user named (``--data-root`` or ``GNNEVAL_DATA``), may be read-only
    cache_dir: Path  #: a writable per-user directory for downloads and processed files
    seed: int
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class PruneContext:
    """Given to pruners."""

    graph: GraphData  #: the dataset (train/val/test masks included): data-driven criteria and training use it
    architecture: str  #: the checkpoint's architecture name (``"gcn"``, ``"graph-classifier"``, a class path...)
    seed: int  #: the run's seed: use :meth:`generator` for random choices
    device: str = "cpu"  #: where the model lives (``cpu`` or ``cuda``)
    options: dict[str, Any] = field(
        default_factory=dict
    )  #: reserved; a pruner's own options are its ``__init__`` arguments

    def generator(self, salt: int = 0) -> torch.Generator:
        """A seeded ``torch.Generator`` (on CPU), so random choices are reproducible."""
        import torch

        g = torch.Generator()
        g.manual_seed(self.seed * 1_000_003 + salt)
        return g


@dataclass
class MetricInputs:
    """Given to metrics.  For ``level = "layer"`` metrics, ``layer`` names the layer
    and ``embedding``/``dense_embedding`` hold its outputs."""

    graph: GraphArrays  #: labels, split masks and edges of the dataset the variant ran on (NumPy)
    variant: VariantOutputs  #: the variant's logits, predictions and every layer's embeddings
    dense: VariantOutputs | None  #: the dense model's outputs; None when the variant *is* the dense model
    seed: int  #: the run's seed (``--seed``): seed every random choice from it
    layer: str | None = None  #: layer metrics: the layer's module name; None for variant metrics
    embedding: np.ndarray | None = None  #: layer metrics: this variant's ``[N, d]`` output of ``layer``
    dense_embedding: np.ndarray | None = (
        None  #: layer metrics: the dense model's output of ``layer`` (its width may differ)
    )
    sample_size: int = defaults.METRIC_SAMPLE  #: nodes in the shared sample for O(n^2) metrics (``--metric-sample``)
    bootstrap: int = defaults.BOOTSTRAP  #: bootstrap resamples for confidence intervals (``--bootstrap``)
    shared: dict[Any, Any] | None = None  #: the run's cache behind :meth:`shared_result` (set by gnneval)
    node_budget: int = defaults.METRIC_NODES
    """Nodes a metric linear in the graph's size uses at most (``--metric-nodes``): :meth:`capped` and
    :meth:`capped_edges` draw a seeded sample above it (plugin API 1.3)."""

    def shared_result(self, of: str, what: str, compute: Callable[[np.ndarray], Any]) -> Any:
        """Work shared between metrics: ``compute(embedding)`` for this layer's ``"variant"`` or ``"dense"``
        embedding, computed once and handed to every metric that asks for the same ``what`` (name the
        computation and its parameters in it, e.g. ``"cosine_knn:k=10:sample"``).  The dense model's results
        are kept for the whole run, a variant's until its metrics are done.  Treat the result as read-only."""
        arr = self.embedding if of == "variant" else self.dense_embedding
        if of not in ("variant", "dense") or arr is None:
            raise ValueError(f"shared_result: of must be 'variant' or 'dense' (with a dense embedding), not {of!r}")
        if self.shared is None:
            return compute(arr)
        key = (id(arr), what, self.seed)  # a repeat of --seeds draws its own samples
        hit = self.shared.get(key)
        if hit is not None and hit[0] is arr:
            return hit[1]
        value = compute(arr)
        self.shared[key] = (arr, value)
        return value

    def _sample(self, n: int) -> np.ndarray:
        import numpy as np

        if n <= self.sample_size:
            return np.arange(n)
        return np.sort(np.random.default_rng(self.seed).choice(n, self.sample_size, replace=False))

    def node_sample(self) -> np.ndarray:
        """The run's fixed node sample: a uniform draw of ``sample_size`` nodes without replacement, seeded by
        the run's seed (both stored with the run), identical for every variant and layer; returned sorted.
        Record ``len(sample)`` with a value computed on it."""
        return self._sample(self.graph.num_nodes)

    def labelled_embedding(self) -> np.ndarray:
        """``embedding`` with one row per labelled item, aligned with ``graph.y`` and ``graph.masks``: the
        node embeddings themselves, or for graph classification each graph's mean node embedding
        (what a label-based metric such as a linear probe should see there)."""
        import numpy as np

        x = np.asarray(self.embedding)
        if self.graph.batch is None:
            return x
        counts = np.bincount(self.graph.batch, minlength=self.graph.num_graphs).astype(np.float64)
        pooled = np.zeros((self.graph.num_graphs, x.shape[1]), dtype=np.float64)
        np.add.at(pooled, self.graph.batch, x)
        return (pooled / np.maximum(counts, 1.0)[:, None]).astype(np.float32)

    def labelled_sample(self) -> np.ndarray:
        """The fixed sample of labelled items (nodes, or graphs for graph classification) for O(n^2) metrics."""
        return self._sample(self.graph.num_nodes if self.graph.batch is None else self.graph.num_graphs)

    def capped(self, items: np.ndarray, limit: int | None = None) -> np.ndarray:
        """``items`` (a boolean mask or item indices) as sorted indices, at most ``limit`` (default
        :attr:`node_budget`) of them: a seeded uniform sample above it, the same for every variant and layer.
        Record ``len(result)`` beside a value computed on a sample (``train_sample``...)."""
        import numpy as np

        idx = np.flatnonzero(items) if items.dtype == bool else np.asarray(items)
        cap = self.node_budget if limit is None else int(limit)
        if idx.size <= cap:
            return idx
        return np.sort(np.random.default_rng(self.seed + 104729).choice(idx, cap, replace=False))

    def capped_edges(self) -> tuple[np.ndarray, int]:
        """The graph's edges whose source is among :meth:`capped` nodes (every edge up to :attr:`node_budget`
        nodes), and how many source nodes that is: a sum over edges divided by it estimates the per-node mean."""
        import numpy as np

        n, ei = self.graph.num_nodes, self.graph.edge_index
        if n <= self.node_budget:
            return ei, n
        keep = np.zeros(n, dtype=bool)
        keep[self.capped(np.arange(n))] = True
        return ei[:, keep[ei[0]]], int(keep.sum())


@dataclass(frozen=True)
class RunInfo:
    """What ``gnneval_evaluate_start`` is told about a run before anything is loaded."""

    checkpoint: Path  #: the checkpoint file being evaluated
    out_dir: Path  #: the run folder
    pruners: tuple[str, ...]  #: pruner names, in order
    sparsities: tuple[float, ...]  #: the sparsities asked for (deduplicated, in order)
    seed: int
    device: str  #: ``cpu`` or ``cuda`` as asked for
    metrics: tuple[str, ...]  #: the metrics that will run
    visualisers: tuple[str, ...]  #: the visualisers that will draw
    command: str  #: the command line
    settings: dict[str, Any] = field(default_factory=dict)  #: every setting, as ``/provenance settings`` stores it


@dataclass
class VisualContext:
    """Given to visualisers: everything comes from the run's stored results."""

    run: RunResult
    out_dir: Path
    formats: tuple[str, ...] = ("png",)
    seed: int = 0


# --------------------------------------------------------------------------- base classes


class _Configurable:
    """Options: every plugin class is instantiated as ``cls(**options)``, where the options are the keyword
    arguments given at registration merged with the user's (``-o NAME.KEY=VALUE`` for pruners).

    Declare them as typed keyword arguments of ``__init__``, with defaults, and say what each means in an
    ``Args:`` section of the class's (or ``__init__``'s) docstring, as PyG and scikit-learn do::

        class MyPruner(Pruner):
            \"\"\"What it does, in a paragraph.

            Args:
                scope: ``layer`` or ``global``.
            \"\"\"

            def __init__(self, *, scope: str = "layer") -> None:
                super().__init__()
                self.scope = scope

    An option the signature does not take is then a one-line error naming the accepted ones, and
    ``gnneval plugins NAME`` lists each with its default and meaning.  Deprecated since API 1.1: reading
    options from ``self.options`` (a class that keeps this default ``__init__`` accepts any option, with a
    DeprecationWarning when it is given one) and declaring them in ``options_doc``."""

    name: ClassVar[str] = ""  #: set when registered
    options_doc: ClassVar[dict[str, str]] = {}  #: deprecated since API 1.1: use typed ``__init__`` arguments

    def __init__(self, **options: Any) -> None:
        if options:
            import warnings

            warnings.warn(
                f"{type(self).__name__} takes its options through **options (read from self.options): "
                "declare them as typed keyword arguments of __init__ (plugin API 1.1)",
                DeprecationWarning,
                stacklevel=2,
            )
        self.options = options


class CheckpointLoader(_Configurable, ABC):
    """Recognises and loads one checkpoint format.

    Loaders are tried in order of ``priority`` (highest first); the first whose
    :meth:`load` returns a :class:`LoadedCheckpoint` wins.
    """

    priority: ClassVar[int] = 0

    @abstractmethod
    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        """Return the loaded checkpoint, or None if this is not a file this loader reads.

        A loader may instead raise :class:`gnneval.load.checkpoint.NotATorchFile` with a
        reason, which means "not mine" too; the reason is shown if no loader
        recognises the file.  Raise :class:`gnneval.core.errors.UsageError` for a file
        that is of this format but cannot be used (say why and what to do).
        """


class DatasetLoader(_Configurable, ABC):
    """Loads datasets by name."""

    @abstractmethod
    def names(self) -> list[str]:
        """Dataset names this loader provides (used for ``--dataset`` and suggestions)."""

    def handles(self, name: str) -> bool:
        """True if this loader loads ``name`` (case-insensitive match on :meth:`names` by default)."""
        return name.lower() in {n.lower() for n in self.names()}

    @abstractmethod
    def load(self, name: str, ctx: DatasetContext) -> GraphData:
        """Load the dataset; raise UsageError with where to put the files if it is missing."""


class Pruner(_Configurable, ABC):
    """Prunes a model to a target sparsity.

    ``structured = True`` means the pruner removes whole channels (sparsity is
    the fraction of hidden channels removed); otherwise sparsity is the fraction
    of prunable weights set to zero.
    """

    structured: ClassVar[bool] = False

    @abstractmethod
    def prune(self, model: torch.nn.Module, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        """Prune ``model`` (a fresh copy the pruner may change) to ``sparsity`` in [0, 1)."""

    def uses_seed(self) -> bool:
        """Called once per (pruner, sparsity) when the run repeats seeds (``--seeds 0,1,2``), before pruning.
        Return whether the result depends on ``ctx.seed`` (random choices, training, sampled batches): True
        makes one variant per seed, False one variant marked deterministic.  The default, True, is always
        safe; override it (it may read the options) when the pruner is deterministic."""
        return True


class Metric(_Configurable, ABC):
    """Computes named numbers for a variant (``level = "variant"``) or for each
    of its layers' embeddings (``level = "layer"``)."""

    level: ClassVar[Level] = "variant"
    needs_dense: ClassVar[bool] = False  #: skip on the dense model itself
    requires: ClassVar[tuple[str, ...]] = ()
    """Dataset facts the metric needs (``("evaluator",)``: an official evaluator, ``GraphArrays.evaluator``); it
    applies only to datasets that have them, and its headline column then leads (the dataset's own measure)."""
    tasks: ClassVar[tuple[Task, ...] | None] = None  #: tasks it applies to (None: every task)
    summary: ClassVar[dict[str, Column]] = {}
    """Keys to show as columns of the summary table (variant metrics) or of the representation table
    (layer metrics; the last hidden layer is shown), in ``gnneval show`` and in ``report.html``:
    ``{"test": Column("test acc", "{:.1%}", role="headline")}``.  See :class:`Column` for the roles."""
    groups: ClassVar[tuple[str, ...]] = ()
    """Named groups the metric belongs to: ``--metrics +GROUP`` adds every metric of the group (e.g. a
    family of opt-in measures), ``-GROUP`` removes them."""
    intervals: ClassVar[dict[str, str]] = {}
    """How each reported uncertainty was made, stored in the run file's ``/intervals``: ``{key: method}``
    for every ``key`` whose interval (``key_ci_low`` / ``key_ci_high``) or spread (``key_sd``) ``compute``
    returns, e.g. ``{"score": "percentile bootstrap over nodes, --bootstrap resamples"}``.  An interval
    returned without its method is reported by name."""

    @abstractmethod
    def compute(self, inputs: MetricInputs) -> dict[str, float | None]:
        """Return ``{key: value}``; keys are stored as ``"<metric name>.<key>"``.

        Keys are short identifiers (letters, digits, ``_``, ``-``, ``+``, ``.``; at most 64 characters); values are
        finite numbers, or ``None`` for "not defined here" (stored as NaN with the reason in the run's
        problems).  Anything else is reported by name and dropped."""


class Tracker(_Configurable, ABC):
    """Sends a run to an experiment tracker (MLflow, TensorBoard, Weights & Biases, ...), chosen per run with
    ``--track NAME[=TARGET]`` and given options with ``-o NAME.KEY=VALUE``.

    gnneval calls, in order: :meth:`start` once, before anything is loaded; :meth:`log_variant` after each
    variant (the dense model first) is stored in run.h5; :meth:`finish` once the pictures and report are
    written.  A method that raises is a problem naming the tracker, which is then not called again in that
    run; the run itself is complete whatever a tracker does.

    Args:
        target: what follows ``=`` in ``--track NAME=TARGET`` (a tracking URI, a log folder, a project); None:
            the tracker's default.
    """

    def __init__(self, *, target: str | None = None) -> None:
        super().__init__()
        self.target = target

    def start(self, run: RunInfo) -> None:
        """Called once before loading: ``run`` has the checkpoint, run folder, pruners, sparsities, seed,
        device, metrics, visualisers, command and every setting (log them as parameters here)."""

    def log_variant(self, variant: VariantResult, run: RunResult) -> None:
        """Called after each variant is stored (failed ones too: ``variant.ok``); ``run`` is the run so far
        (provenance, columns, the variants before it, the dense model first).  Under ``--seeds`` each repeat
        comes on its own (``variant.seed``); :meth:`finish` gets them merged too."""

    @abstractmethod
    def finish(self, result: RunResult, run_dir: Path) -> None:
        """Called once the run is stored and drawn: ``result`` is the whole run as read back from run.h5
        (``result.summarised()`` merges repeated seeds; ``result.files`` names the pictures, the report and the
        explorer), ``run_dir`` its folder.  Log summaries and artifacts, and close the tracker's run."""


class Visualiser(_Configurable, ABC):
    """Draws pictures from a run's stored results (never from a live model)."""

    caption: ClassVar[str] = ""  #: one or two sentences under its pictures in report.html
    rank: ClassVar[int] = 100  #: where report.html shows its pictures: lower first (the headline curves are 10)

    @abstractmethod
    def draw(self, ctx: VisualContext) -> list[Path]:
        """Write image files under ``ctx.out_dir`` and return their paths."""
