"""Loading what a run evaluates: the checkpoint and its dataset, with every check on the pair."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gnneval.core import defaults
from gnneval.core.contract import TASKS, DatasetContext, DatasetRef, GraphData, LoadedCheckpoint
from gnneval.core.errors import UsageError
from gnneval.core.problems import report

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.registry import Registry


@dataclass(frozen=True)
class LoadSettings:
    """The load stage's settings: what to load, as the user asked for it."""

    checkpoint: Path
    seed: int = defaults.SEED
    data_root: str | None = None
    dataset: str | None = None
    dataset_options: dict[str, Any] | None = None
    loader: str | None = None
    loader_options: dict[str, Any] | None = None
    task: str | None = None
    trust: bool = False
    device: str = defaults.DEVICE
    transform: str | None = None  #: ``--transform``; None: the checkpoint's, if it records one
    max_params: int = defaults.MAX_PARAMS  #: ``--max-params``: the most weights a file may hold
    allow_nonfinite: bool = False  #: ``--allow-nonfinite``: evaluate a model with NaN/Inf weights anyway
    split: str | None = None  #: ``--split FILE``: train/val/test indices or masks the model was trained with


@dataclass
class Loaded:
    """A checkpoint and its dataset, ready to evaluate or benchmark."""

    ckpt: LoadedCheckpoint
    loader: str
    graph: GraphData
    dataset_loader: str
    task: str
    device: str  #: the device asked for, or ``cpu`` where CUDA was asked for and there is none
    dataset_ref: DatasetRef


def usable_device(device: str) -> str:
    """``device``, or ``cpu`` (with a problem saying so) where CUDA is asked for and there is none;
    ``auto``: ``cuda`` where a CUDA device is available, else ``cpu``."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            report("device", f"{device} was asked for but no CUDA device is available; running on the CPU")
            return "cpu"
    return device


def load_for_evaluation(req: LoadSettings, registry: Registry, console: Any = None) -> Loaded:
    """Load the checkpoint and its dataset as ``evaluate`` and ``bench`` do, with every check on the
    pair: the device, the task, the dataset's task and the model's input size.  What the checkpoint
    loader inferred or repaired is printed on ``console``, one line per decision."""
    from gnneval.core.paths import default_cache_dir
    from gnneval.load.checkpoint import load_checkpoint
    from gnneval.load.datasets import load_dataset, resolve_data_root

    device = usable_device(req.device)
    ckpt, loader = load_checkpoint(
        req.checkpoint,
        registry,
        trust=req.trust,
        loader=req.loader,
        options=req.loader_options or {},
        max_params=req.max_params,
    )
    _check_finite(ckpt, req)
    if console is not None:
        lines = ([f"source: {ckpt.source}"] if ckpt.source and ckpt.notes else []) + list(ckpt.notes)
        for line in lines:
            console.print(f"checkpoint loader '{loader}': {line}", soft_wrap=True, markup=False)
    said = req.task or ckpt.task
    if said is not None and said not in TASKS:
        raise UsageError(f"{req.checkpoint} is a '{said}' model; gnneval evaluate supports {', '.join(TASKS)}")
    ref = dataset_ref(req, ckpt, said or "node-classification")
    dctx = DatasetContext(root=resolve_data_root(req.data_root), cache_dir=default_cache_dir(), seed=req.seed)
    graph, dataset_loader = load_dataset(registry, ref, dctx)
    task = said or graph.task  # a file that does not say takes its dataset's task
    if graph.task != task:
        raise UsageError(
            f"{req.checkpoint} is a '{task}' model but dataset loader '{dataset_loader}' gave a "
            f"'{graph.task}' dataset; pass --dataset-option task={task}"
        )
    graph = _transformed(graph, ref, console)
    if req.split:
        from gnneval.load.splits import apply_split_file

        graph = apply_split_file(graph, Path(req.split))
    elif ckpt.split:
        from gnneval.load.splits import apply_stored_split

        graph = apply_stored_split(graph, ckpt.split, Path(req.checkpoint))
    if console is not None:
        own = (" (the dataset loader's; --split FILE gives the one the model was trained with)"
               if not req.split and not ckpt.split else "")  # fmt: skip
        console.print(f"split: {graph.split}{own}", soft_wrap=True, markup=False)
    _check_user_forward(ckpt, task)
    _check_graph_level(ckpt, task, graph)
    expected = expected_features(ckpt)
    if expected is not None and expected != graph.num_features:
        raise UsageError(
            f"the model takes {expected} input features but dataset {graph.name} has "
            f"{graph.num_features}; pass the --dataset it was trained on"
        )
    return Loaded(ckpt, loader, graph, dataset_loader, task, device, ref)


def expected_features(ckpt: LoadedCheckpoint) -> int | None:
    """The node features the model reads: ``in_channels`` of its arguments, or of its first message-passing
    layer (torch_geometric's, whatever the architecture: inferred layer stacks, the user's class), else None."""
    declared = ckpt.architecture_kwargs.get("in_channels")
    if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
        return declared
    layers = ckpt.architecture_kwargs.get("layers")
    if isinstance(layers, list) and layers and isinstance(layers[0], dict) and isinstance(layers[0].get("in"), int):
        return int(layers[0]["in"])
    for module in ckpt.model.modules():
        if any(c.__name__ == "MessagePassing" for c in type(module).__mro__):
            c_in = getattr(module, "in_channels", None)
            c_in = c_in[0] if isinstance(c_in, tuple) else c_in
            return int(c_in) if isinstance(c_in, int) and c_in > 0 else None
    return None


def _transformed(graph: GraphData, ref: DatasetRef, console: Any) -> GraphData:
    """The graph after ``ref.transform`` (the user's ``--transform``, else the checkpoint's)."""
    from dataclasses import replace

    from gnneval.load.transforms import apply_transforms, canonical

    if not ref.transform:
        return graph
    data = apply_transforms(graph.data, ref.transform)
    if console is not None:
        console.print(f"dataset transform: {canonical(ref.transform)}", soft_wrap=True, markup=False)
    return replace(
        graph,
        data=data,
        num_features=int(data.x.shape[1]) if data.x is not None else graph.num_features,
        source=f"{graph.source}; transformed: {canonical(ref.transform)}",
    )


def _check_finite(ckpt: LoadedCheckpoint, req: LoadSettings) -> None:
    """Refuse NaN/Inf weights (a damaged or diverged checkpoint), naming the tensors, unless allowed."""
    import torch

    if req.allow_nonfinite:
        return
    bad = [
        name
        for name, t in ckpt.model.state_dict().items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]
    if bad:
        raise UsageError(
            f"{req.checkpoint} has non-finite (NaN or Inf) values in {', '.join(bad[:5])}"
            + (f" and {len(bad) - 5} more tensors" if len(bad) > 5 else "")
            + "; the file is damaged or training diverged (--allow-nonfinite evaluates it anyway)"
        )


def _check_user_forward(ckpt: LoadedCheckpoint, task: str) -> None:
    from gnneval.load.user_code import check_forward

    ref = ckpt.metadata.get("model_class")
    if isinstance(ref, dict):
        check_forward(ckpt.model, task, str(ref.get("class")))


def _check_graph_level(ckpt: LoadedCheckpoint, task: str, graph: GraphData) -> None:
    """A node-level model (its forward takes no ``batch``: ``edge_weight`` third, as torch_geometric's GCN) gives
    one output per node: refused on a graph-classification dataset, before anything runs."""
    import inspect

    if task != "graph-classification" or isinstance(ckpt.metadata.get("model_class"), dict):
        return  # the user's class: check_forward has read its signature
    try:
        params = list(inspect.signature(ckpt.model.forward).parameters.values())
    except (TypeError, ValueError):
        return
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in params if p.kind in kinds]
    if len(names) < 3 or names[2] in ("edge_weight", "edge_attr"):
        raise UsageError(
            f"the model ({ckpt.architecture}) is node-level: its forward({', '.join(names[:4])}) takes no batch, so "
            f"it gives one output per node, not per graph, and {graph.name} is a graph-classification dataset; "
            "evaluate it on a node dataset (--dataset Cora), or give a graph classifier (--arch graph-classifier, "
            "or your own class with --arch models.py:Class)"
        )


def dataset_ref(req: LoadSettings, ckpt: LoadedCheckpoint, task: str) -> DatasetRef:
    """The dataset to evaluate on: ``--dataset`` if given, else the checkpoint's, with the options merged."""
    options = dict(req.dataset_options or {})
    recorded = ckpt.dataset.transform if ckpt.dataset is not None else ""
    transform = req.transform if req.transform is not None else recorded
    if req.dataset:
        ref = DatasetRef(name=req.dataset, options=options, transform=transform or "")
    elif ckpt.dataset is not None:
        ref = DatasetRef(
            ckpt.dataset.name,
            ckpt.dataset.loader,
            ckpt.dataset.split,
            {**ckpt.dataset.options, **options},
            transform=transform or "",
        )
    else:
        raise UsageError(f"{req.checkpoint} does not record its dataset; pass --dataset NAME")
    if task != "node-classification":
        ref.options.setdefault("task", task)
    return ref
