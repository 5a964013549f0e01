"""gnneval's testing kit for plugin authors (a pytest plugin, loaded automatically).

Fixtures:

- ``gnneval_host``: a fresh plugin host (every installed plugin, entry points included).
- ``gnneval_graph``: a small seeded stochastic-block-model graph (:class:`~gnneval.plugin.GraphData`).
- ``gnneval_model``: a 2-layer GCN trained on it (eval mode); copy it before changing it.
- ``gnneval_run``: a small stored run (dense, ``structured`` and ``magnitude`` at 0.5), read
  back from its HDF5 file, for metrics and visualisers; ``gnneval_link_run``: the same for a
  link-prediction encoder.

Contract checks (call them in your own tests; each raises AssertionError saying
what broke)::

    from gnneval.testing import check_pruner
    def test_my_pruner(gnneval_graph, gnneval_model):
        check_pruner(MyPruner, gnneval_graph, gnneval_model)

- :func:`check_pruner`: the pruner reaches the sparsity it was asked for and the
  pruned model still runs and returns the right shapes.
- :func:`check_metric`: the metric returns finite numbers, keyed by strings.
- :func:`check_visualiser`: the visualiser writes readable images.
- :func:`check_checkpoint_loader`: the loader returns None (or raises
  ``NotATorchFile``) for files it does not recognise.
- :func:`check_architecture`: the built model runs on the graph, its layers are captured, it prunes.
- :func:`check_dataset_loader`: the loaded graph is consistent (shapes, masks, labels, edges).
- :func:`plugin_host`, :func:`load_with`: a host with your plugin registered in-process, and loading a
  checkpoint with your loader, before the plugin is installed.

The built-in plugins pass the same checks (gnneval's own tests run them).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from gnneval._plugins.manager import build_plugin_host
from gnneval.plugin import (
    CheckpointLoader,
    DatasetContext,
    DatasetLoader,
    DatasetRef,
    GraphData,
    LoadContext,
    Metric,
    PruneContext,
    PruneOutcome,
    Pruner,
    RunInfo,
    RunResult,
    Tracker,
    VisualContext,
    Visualiser,
)

KIT_GRAPH = {"nodes": 300, "blocks": 4, "features": 16, "avg_degree": 6.0, "seed": 0}


def small_graph(**options: Any) -> GraphData:
    """The kit's graph: the registered ``sbm`` dataset with small, seeded settings."""
    from gnneval.core.paths import default_cache_dir
    from gnneval.load.datasets import load_dataset

    host = build_plugin_host()
    ref = DatasetRef("sbm", loader="sbm", options={**KIT_GRAPH, **options})
    graph, _ = load_dataset(host.registry, ref, DatasetContext(None, default_cache_dir(), seed=0))
    return graph


def small_model(graph: GraphData, *, architecture: str = "gcn", hidden: int = 32, epochs: int = 60, **kwargs: Any):
    """A registered architecture trained briefly (seeded) on ``graph``; returned in eval mode."""
    import torch

    torch.manual_seed(0)
    model = build_plugin_host().registry.build_architecture(
        architecture,
        in_channels=graph.num_features,
        hidden_channels=hidden,
        out_channels=graph.num_classes,
        num_layers=2,
        **kwargs,
    )
    return _fit(model, graph, epochs, torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4))


def _fit(model, graph: GraphData, epochs: int, opt):
    """A fixed number of full-batch steps on ``graph``'s task loss (no early stopping: the kit wants
    the same model every time, whatever the validation split says)."""
    from gnneval.prune.training import task_loss

    for _ in range(epochs):
        model.train()
        opt.zero_grad()
        task_loss(model, graph).backward()
        opt.step()
    return model.eval()


def small_link_model(graph: GraphData, *, hidden: int = 32, out: int = 16, epochs: int = 80):
    """A 2-layer GCN encoder trained for link prediction (dot-product decoder, one sampled
    non-edge per training edge) on ``graph``'s message-passing edges; eval mode."""
    import torch

    if graph.task != "link-prediction":
        raise ValueError(f"small_link_model needs a link-prediction graph, got a '{graph.task}' one")
    torch.manual_seed(0)
    model = build_plugin_host().registry.build_architecture(
        "gcn", in_channels=graph.num_features, hidden_channels=hidden, out_channels=out, num_layers=2
    )
    return _fit(model, graph, epochs, torch.optim.Adam(model.parameters(), lr=0.01))


def small_run(
    out_dir: Path,
    graph_options: dict[str, Any] | None = None,
    pruners: Sequence[str] = ("structured", "magnitude"),
    task: str = "node-classification",
) -> RunResult:
    """Evaluate a small model at sparsity 0.5 (no benchmark, no pictures) and read the run back."""
    from gnneval.run.evaluate import EvaluateSettings, Evaluator
    from gnneval.store.checkpoints import save_checkpoint
    from gnneval.store.hdf5 import read_run

    opts = {**KIT_GRAPH, **(graph_options or {})}
    if task != "node-classification":
        opts["task"] = task
    graph = small_graph(**opts)
    model = small_model(graph) if task == "node-classification" else small_link_model(graph)
    out_dir.mkdir(parents=True, exist_ok=True)
    kwargs = {
        "in_channels": graph.num_features,
        "hidden_channels": 32,
        "out_channels": graph.num_classes if task == "node-classification" else 16,
        "num_layers": 2,
    }
    ckpt = save_checkpoint(
        out_dir / "kit_model.pt",
        model=model,
        architecture="gcn",
        architecture_kwargs=kwargs,
        task=task,
        dataset=DatasetRef("sbm", loader="sbm", options=opts),
        metrics={},
        training={"seed": 0, "recipe": "gnneval.testing.small_run"},
    )
    settings = EvaluateSettings(
        checkpoint=ckpt, pruners=list(pruners), sparsities=[0.5], out_dir=out_dir / "run", bench=False, visualisers=[]
    )
    Evaluator(settings, build_plugin_host(), show_progress=False).run()
    return read_run(out_dir / "run")


def plugin_host(extra: Sequence[tuple[str, Any]] = (), entry_points: bool = True):
    """A plugin host (every installed plugin, unless ``entry_points=False``) plus ``extra`` plugins
    registered in-process: ``plugin_host(extra=[("my-plugin", my_module)])``."""
    return build_plugin_host(extra=extra, use_entry_points=entry_points)


def load_with(module: Any, loader: str, path: Path, **options: Any):
    """Load ``path`` with checkpoint loader ``loader`` from plugin ``module`` (registered in-process if it
    is not installed), as ``gnneval evaluate --loader LOADER`` would; returns the ``LoadedCheckpoint``."""
    from gnneval.load.checkpoint import load_checkpoint

    host = build_plugin_host()
    if loader not in host.registry.names("checkpoint-loader"):
        host = build_plugin_host(extra=[(loader, module)])
    loaded, _name = load_checkpoint(Path(path), host.registry, loader=loader, options=options)
    return loaded


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def gnneval_host():
    """A fresh plugin host with every installed plugin."""
    return build_plugin_host()


@pytest.fixture(scope="session")
def gnneval_graph() -> GraphData:
    """A small seeded SBM graph (300 nodes, 4 classes, 16 features)."""
    return small_graph()


@pytest.fixture(scope="session")
def gnneval_model(gnneval_graph):
    """A 2-layer GCN (hidden 32) trained on ``gnneval_graph``; deep-copy it before changing it."""
    return small_model(gnneval_graph)


@pytest.fixture(scope="session")
def gnneval_run(tmp_path_factory) -> RunResult:
    """A small stored node-classification run (dense, structured@0.50, magnitude@0.50) read back from HDF5."""
    return small_run(tmp_path_factory.mktemp("gnneval-kit"))


@pytest.fixture(scope="session")
def gnneval_link_run(tmp_path_factory) -> RunResult:
    """The same for a link-prediction encoder (seeded edge split, dot-product decoder)."""
    return small_run(tmp_path_factory.mktemp("gnneval-kit-link"), task="link-prediction")


# --------------------------------------------------------------------------- contract checks


def _instantiate(cls: type, options: dict[str, Any] | None) -> Any:
    obj = cls(**(options or {}))
    if not getattr(obj, "name", ""):
        obj.name = cls.__name__.lower()
    return obj


def check_pruner(
    cls: type[Pruner],
    graph: GraphData,
    model,
    sparsities: Sequence[float] = (0.3, 0.7),
    options: dict[str, Any] | None = None,
    seed: int = 0,
) -> list[PruneOutcome]:
    """Assert that ``cls`` prunes ``model`` to each sparsity and the result still runs.

    Works for any task's model on its graph (node classification, link prediction, graph classification:
    the model is called as the pipeline calls it).  What "reached the sparsity" means depends on the
    pruner: a graph sparsifier (returns ``outcome.graph``) removed that share of edges; a structured
    pruner (``cls.structured``) shrank the first hidden layer to ``round((1 - s) * C)`` channels; any
    other pruner zeroed that share of the prunable weights **and returned masks that agree with the
    zeros** (every prunable weight it zeroed is masked, every masked weight is zero), as the pipeline
    needs to keep them fixed while fine-tuning.
    """
    import torch

    from gnneval.model.counting import prunable_weights
    from gnneval.model.forward import model_inputs

    assert isinstance(cls, type) and issubclass(cls, Pruner), f"{cls!r} is not a gnneval.plugin.Pruner subclass"
    model = model.eval()
    with torch.no_grad():
        dense_out = model(*model_inputs(graph))
    outcomes = []
    for s in sparsities:
        pruner = _instantiate(cls, options)
        outcome = pruner.prune(copy.deepcopy(model), s, PruneContext(graph, "gcn", seed=seed))
        assert isinstance(outcome, PruneOutcome), f"{cls.__name__}.prune must return a PruneOutcome, got {outcome!r}"
        g = outcome.graph or graph
        pruned = outcome.model.eval()
        with torch.no_grad():
            out = pruned(*model_inputs(g))
        assert out.shape == dense_out.shape, (
            f"at sparsity {s}: output shape {tuple(out.shape)} != {tuple(dense_out.shape)}"
        )
        assert torch.isfinite(out).all(), f"at sparsity {s}: the pruned model outputs non-finite values"
        if outcome.graph is not None and not outcome.masks:  # a pure graph sparsifier
            removed = 1 - g.data.edge_index.shape[1] / graph.data.edge_index.shape[1]
            assert abs(removed - s) <= 0.02, f"asked to remove {s:.0%} of edges, removed {removed:.1%}"
        elif cls.structured:
            dense_width = _first_width(model, graph)
            width, want = _first_width(pruned, g), max(1, round((1 - s) * dense_width))
            assert width == want, f"at sparsity {s}: the first layer outputs {width} channels, want {want}"
        else:  # zero or physically removed, as a share of the dense model's prunable weights
            dense_weights = sum(p.numel() for _, p in prunable_weights(model))
            nonzero = sum(int((p != 0).sum()) for _, p in prunable_weights(pruned))
            reached = 1.0 - nonzero / dense_weights
            assert reached >= s - 0.01, f"asked for weight sparsity {s:.0%}, reached {reached:.1%}"
        _check_masks(cls, model, pruned, outcome, s)
        outcomes.append(outcome)
    return outcomes


def _first_width(model, graph: GraphData) -> int:
    """Channels of the first message-passing layer's output (as the pipeline captures it)."""
    from gnneval.model.forward import run_model

    return int(next(iter(run_model(model, graph).embeddings.values())).shape[1])


def _check_masks(cls: type[Pruner], dense, pruned, outcome: PruneOutcome, s: float) -> None:
    """Masks name real parameters, have their shape, are boolean, and agree with the zeros: every masked
    weight is zero, and every weight the pruner zeroed is masked."""
    from gnneval.model.counting import prunable_weights

    params = dict(pruned.named_parameters())
    for name, mask in outcome.masks.items():
        assert name in params, f"{cls.__name__}: mask for unknown parameter {name!r}"
        assert tuple(mask.shape) == tuple(params[name].shape) and str(mask.dtype) == "torch.bool", (
            f"{cls.__name__}: mask {name!r} must be a bool tensor of the weight's shape"
        )
        assert not params[name][~mask].any(), f"{cls.__name__}: mask {name!r}: masked weights are not zero"
    if cls.structured or (outcome.graph is not None and not outcome.masks) or s == 0:
        return
    assert outcome.masks, (
        f"{cls.__name__} is unstructured but returned no masks: return "
        "PruneOutcome(model, masks={name: kept}) so the zeros stay fixed while fine-tuning"
    )
    before = dict(prunable_weights(dense))
    for name, p in prunable_weights(pruned):
        if name not in before or before[name].shape != p.shape:
            continue
        zeroed = (p == 0) & (before[name] != 0)
        kept = outcome.masks.get(name)
        unmasked = int(zeroed.sum()) if kept is None else int((zeroed & kept.to(p.device)).sum())
        assert unmasked == 0, f"{cls.__name__}: it zeroed {unmasked} weights of {name!r} that its masks keep"


def check_metric(cls: type[Metric], run: RunResult, options: dict[str, Any] | None = None) -> list[dict[str, float]]:
    """Assert that ``cls`` returns, on every variant (and layer) of ``run``, what the pipeline accepts:
    a non-empty dict of short identifier keys to finite numbers (``None`` only for "not defined")."""
    from gnneval.core.problems import collecting
    from gnneval.measure.metrics import MetricSettings, applicable, compute_metric

    assert isinstance(cls, type) and issubclass(cls, Metric), f"{cls!r} is not a gnneval.plugin.Metric subclass"
    assert cls.level in ("variant", "layer"), f"{cls.__name__}.level must be 'variant' or 'layer', not {cls.level!r}"
    metric = _instantiate(cls, options)
    dense = run.dense.outputs
    results: list[dict[str, float]] = []
    for v in run.variants:
        ref = None if v.id == "dense" else dense
        if not v.ok or v.outputs is None or not applicable(cls, run.graph.task, ref, run.graph):
            continue
        with collecting() as problems:
            flat, per_layer = compute_metric(metric, run.graph, v.outputs, ref, MetricSettings(), v.id)
        assert not problems, f"{cls.__name__} on {v.id}: " + "; ".join(f"{p.where}: {p.message}" for p in problems)
        for values in [flat] if cls.level == "variant" else list(per_layer.values()):
            assert values, f"{cls.__name__} on {v.id} returned no values"
            results.append(values)
    assert results, f"{cls.__name__} was never computed on the run (its tasks: {cls.tasks})"
    return results


def check_tracker(cls: type[Tracker], run: RunResult, run_dir: Path, options: dict[str, Any] | None = None) -> Tracker:
    """Call ``cls`` as a run does — ``start`` with the run's :class:`RunInfo`, ``log_variant`` for each variant (the
    dense model first), ``finish`` with the whole run — and assert that none raises; returns the tracker (its
    ``target`` is ``run_dir / "tracking"`` unless ``options`` name one) for the test to read back what it logged."""
    assert isinstance(cls, type) and issubclass(cls, Tracker), f"{cls!r} is not a gnneval.plugin.Tracker subclass"
    run_dir.mkdir(parents=True, exist_ok=True)
    tracker = _instantiate(cls, {"target": str(run_dir / "tracking"), **(options or {})})
    p = run.provenance
    tracker.start(RunInfo(checkpoint=Path(p.checkpoint_path), out_dir=run_dir, pruners=tuple(run.pruners),
                          sparsities=tuple(sorted({v.sparsity for v in run.variants if v.pruner})), seed=p.seed,
                          device=p.device, metrics=(), visualisers=(), command=p.command, settings=dict(p.settings)))  # fmt: skip
    for i, v in enumerate(run.variants):
        tracker.log_variant(v, replace(run, variants=run.variants[: i + 1]))
    tracker.finish(run, run_dir)
    return tracker


def check_visualiser(
    cls: type[Visualiser], run: RunResult, out_dir: Path, options: dict[str, Any] | None = None
) -> list[Path]:
    """Assert that ``cls`` draws at least one readable, non-empty image from ``run`` — or, for an interactive
    visualiser, a self-contained HTML page (nothing loaded from the network: every script and style inlined)."""
    import re

    import matplotlib.image

    assert isinstance(cls, type) and issubclass(cls, Visualiser), f"{cls!r} is not a gnneval.plugin.Visualiser subclass"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = _instantiate(cls, options).draw(VisualContext(run=run, out_dir=out_dir, formats=("png",), seed=0))
    assert paths, f"{cls.__name__}.draw returned no files"
    for p in paths:
        p = Path(p)
        assert p.is_file() and p.stat().st_size > 0, f"{p} was not written"
        if p.suffix.lower() in (".html", ".htm"):
            text = p.read_text(encoding="utf-8")
            assert re.match(r"\s*(<!doctype html|<html)", text, re.I), f"{p} is not an HTML document"
            external = re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:|//)", text, re.I)
            assert not external, f"{p} loads {external.group(0)!r} from the network; inline it"
            continue
        img = matplotlib.image.imread(p)
        assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50, f"{p} is not a readable image"
        assert img.std() > 0, f"{p} is blank"
    return [Path(p) for p in paths]


def check_architecture(builder: Any, graph: GraphData, **kwargs: Any):
    """Assert that ``builder(in_channels, hidden_channels, out_channels, num_layers, **kwargs)`` builds a model
    that runs on ``graph`` as the pipeline calls it, gives one row per node (per graph for graph
    classification), has message-passing layers whose embeddings gnneval can capture, survives a
    state_dict round trip, and can be pruned by the built-in ``magnitude`` pruner.  Returns the model."""
    import torch

    from gnneval.model.forward import message_passing_layers, model_inputs, run_model

    model = builder(
        in_channels=graph.num_features, hidden_channels=16, out_channels=graph.num_classes, num_layers=2, **kwargs
    ).eval()
    assert isinstance(model, torch.nn.Module), f"the builder returned {type(model).__name__}, not a torch.nn.Module"
    with torch.no_grad():
        out = model(*model_inputs(graph))
    rows = int(graph.data.y.shape[0])
    assert tuple(out.shape) == (rows, graph.num_classes), (
        f"output shape {tuple(out.shape)}, want {(rows, graph.num_classes)}"
    )
    assert message_passing_layers(model), "the model has no torch_geometric MessagePassing layer to capture"
    outputs = run_model(model, graph)
    assert outputs.embeddings, "no layer embeddings were captured"
    twin = builder(
        in_channels=graph.num_features, hidden_channels=16, out_channels=graph.num_classes, num_layers=2, **kwargs
    )
    twin.load_state_dict(model.state_dict())
    magnitude = build_plugin_host().registry.get("pruner", "magnitude").obj
    check_pruner(magnitude, graph, model, sparsities=(0.5,))
    return model


def check_dataset_loader(cls: type[DatasetLoader], name: str, root: Path | None = None, **options: Any) -> GraphData:
    """Assert that ``cls`` handles ``name`` and loads a consistent :class:`GraphData` from ``root``: labels,
    disjoint non-empty boolean split masks of the right length, features of ``num_features`` columns,
    edges inside the graph, and classes within ``num_classes``.  Returns the graph."""
    from gnneval.core.paths import default_cache_dir

    assert isinstance(cls, type) and issubclass(cls, DatasetLoader), f"{cls!r} is not a gnneval.plugin.DatasetLoader"
    loader = _instantiate(cls, None)
    assert loader.handles(name), f"{cls.__name__}.handles({name!r}) is False"
    graph = loader.load(
        name, DatasetContext(Path(root) if root else None, default_cache_dir(), seed=0, options=options)
    )
    assert isinstance(graph, GraphData), f"{cls.__name__}.load returned {type(graph).__name__}, not GraphData"
    d = graph.data
    n_items = int(d.y.shape[0])
    assert d.x.shape[1] == graph.num_features, f"x has {d.x.shape[1]} columns, num_features says {graph.num_features}"
    assert int(d.edge_index.max()) < d.num_nodes and int(d.edge_index.min()) >= 0, "edge_index points outside the graph"
    assert int(d.y.max()) < graph.num_classes, f"a label is >= num_classes ({graph.num_classes})"
    masks = [getattr(d, f"{s}_mask") for s in ("train", "val", "test")]
    for s, m in zip(("train", "val", "test"), masks):
        assert m.dtype.is_floating_point is False and m.shape[0] == n_items and bool(m.any()), f"{s}_mask is bad"
    assert not bool((masks[0] & masks[2]).any()), "train and test masks overlap"
    return graph


def check_checkpoint_loader(cls: type[CheckpointLoader], tmp_path: Path) -> None:
    """Assert that ``cls.load`` does not claim files it does not recognise."""
    import torch

    from gnneval.plugin import NotATorchFile

    assert isinstance(cls, type) and issubclass(cls, CheckpointLoader), (
        f"{cls!r} is not a gnneval.plugin.CheckpointLoader subclass"
    )
    tmp_path.mkdir(parents=True, exist_ok=True)
    samples = {
        "random.bin": os.urandom(2048),
        "text.txt": b"this is not a checkpoint\n",
        "zip.zip": b"PK\x03\x04" + os.urandom(200),
    }
    for name, content in samples.items():
        (tmp_path / name).write_bytes(content)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    torch.save({"unrelated": torch.zeros(3), "format": "something-else"}, tmp_path / "dict.pt")
    ctx = LoadContext(trust=False, options={}, _build=build_plugin_host().registry.build_architecture)
    loader = _instantiate(cls, None)
    for path in sorted(tmp_path.iterdir()):
        try:
            got = loader.load(path, ctx)
        except NotATorchFile:
            continue
        assert got is None, f"{cls.__name__} claimed {path.name}, a file it should not recognise"
