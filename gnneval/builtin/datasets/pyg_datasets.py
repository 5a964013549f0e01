"""Every dataset class of ``torch_geometric.datasets`` by its class name, with its options:
``--dataset Amazon --dataset-option name=Computers``, ``Coauthor`` (``name=CS``), ``Flickr``, ``Reddit``,
``WikiCS``, ``WebKB`` (``name=Cornell``), ``CitationFull``, ``Actor``, ``Planetoid`` (``name=Cora``,
``split=full``) ... (Cora, CiteSeer, PubMed and the TU names have loaders of their own).

Raw files already on disk are used: ``<data root>/<Class>/`` laid out as torch_geometric lays it out (e.g.
``Amazon/computers/raw/amazon_electronics_computers.npz``); every file under a ``raw`` folder is copied into the
cache, where torch_geometric writes its processed files — the user's folder is never written to.  Without
them the class downloads as usual.

The split: the dataset's official one where it has masks (a 2-D mask, one column per official split as
WikiCS keeps them: ``split_index``, default 0); otherwise a seeded split stratified by class, 60/20/20
(``split_seed``, ``train``, ``val``), said as such.  A dataset of many graphs is graph classification (one
disjoint-union graph, a stratified 80/10/10 split of the graphs); ``task=link-prediction`` splits the edges.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from pathlib import Path
from typing import Any

from gnneval.plugin import DatasetContext, DatasetLoader, GraphData, UsageError, hookimpl
from gnneval.plugin.helpers import disjoint_union, link_split, node_split, official_masks, stage_tree

OWN = ("task", "split_seed", "train", "val", "split_index")
"""Options gnneval reads itself; every other ``--dataset-option`` goes to the dataset class."""
EXAMPLES = ("Amazon", "Coauthor", "Flickr", "Reddit", "WikiCS", "WebKB", "CitationFull", "Actor", "Planetoid")
SKIP = ("TUDataset",)  #: names another loader reads with more care


def _classes() -> list[str]:
    import torch_geometric.datasets as datasets

    return [n for n in getattr(datasets, "__all__", []) if n not in SKIP and inspect.isclass(getattr(datasets, n))]


class PygDatasetLoader(DatasetLoader):
    """Any ``torch_geometric.datasets`` class by name (``--dataset Amazon --dataset-option name=Computers``): the
    official split where the dataset has one, else a seeded stratified one, said as such; raw files found
    under the data root are copied into the cache, never written to.
    """

    def names(self) -> list[str]:
        return [f"{n} (torch_geometric)" for n in EXAMPLES] + ["any other torch_geometric.datasets class"]

    def handles(self, name: str) -> bool:
        return name in _classes()

    def load(self, name: str, ctx: DatasetContext) -> GraphData:
        import torch_geometric.datasets as datasets

        cls = getattr(datasets, name)
        kwargs = {k: v for k, v in ctx.options.items() if k not in OWN}
        root = ctx.cache_dir / "datasets" / "pyg" / name
        source = "downloaded"
        if ctx.root is not None and (Path(ctx.root) / name).is_dir():
            copied = stage_tree(Path(ctx.root) / name, root)
            if copied:
                source = f"{Path(ctx.root) / name} ({len(copied)} raw file(s) copied to {root})"
        ds = _instantiate(cls, name, root, kwargs, ctx)
        task = str(ctx.options.get("task") or ("graph-classification" if len(ds) > 1 else "node-classification"))
        label = name + "".join(f"-{v}" for k, v in kwargs.items() if k == "name")
        if task == "graph-classification":
            return _graphs(ds, label, source, ctx)
        data, split = _one_graph(ds[0], ctx, task)
        return GraphData(name=label, task=task, data=data, num_features=int(data.x.shape[1]),
                         num_classes=int(data.y.max()) + 1, source=f"torch_geometric.datasets.{name}: {source}",
                         split=split)  # fmt: skip


def _instantiate(cls: Any, name: str, root: Path, kwargs: dict[str, Any], ctx: DatasetContext) -> Any:
    params = [p for p in inspect.signature(cls).parameters if p not in ("root", "transform", "pre_transform",
                                                                       "pre_filter", "force_reload", "log")]  # fmt: skip
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise UsageError(f"dataset {name} takes no option {', '.join(unknown)}; its options: {', '.join(params) or 'none'}"
                         " (--dataset-option KEY=VALUE)")  # fmt: skip
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            return cls(str(root), **kwargs)
    except TypeError:
        raise UsageError(f"dataset {name} needs options {', '.join(params)} (e.g. --dataset-option "
                         f"{params[0] if params else 'name'}=...)") from None  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - no internet, or damaged files
        where = Path(ctx.root) / name if ctx.root else root
        raise UsageError(f"dataset {name} is not on disk and could not be downloaded ({type(exc).__name__}); put its "
                         f"files in {where} as torch_geometric lays them out (<{name}>/.../raw/), or run once where "
                         "there is internet") from None  # fmt: skip


def _one_graph(data: Any, ctx: DatasetContext, task: str) -> tuple[Any, str]:
    """One graph's masks: the official split, or a seeded stratified one; the edges' split for link prediction."""
    seed = int(ctx.options.get("split_seed", 0))
    data = data.clone()
    data.x = data.x.float()
    data.y = data.y.view(-1).long() if data.y.dim() > 1 and data.y.shape[1] == 1 else data.y
    if data.y.dim() > 1:
        raise UsageError("the dataset's labels are multi-label (one column per task): gnneval evaluates single-label "
                         "classification; a dataset plugin can turn it into one task")  # fmt: skip
    if task == "link-prediction":
        return link_split(data, seed=seed), f"seeded edge split, 5% validation, 10% test, seed {seed}"
    found = official_masks(data, int(ctx.options.get("split_index", 0)))
    if found is not None:
        masks, said = found
    else:
        train, val = float(ctx.options.get("train", 0.6)), float(ctx.options.get("val", 0.2))
        masks = node_split(data.y, seed=seed, train=train, val=val)
        said = (f"stratified {round(100 * train)}/{round(100 * val)}/{round(100 * (1 - train - val))} by class, seed "
                f"{seed} (the dataset has no official split)")  # fmt: skip
    for key, mask in masks.items():
        setattr(data, key, mask)
    return data, said


def _graphs(ds: Any, label: str, source: str, ctx: DatasetContext) -> GraphData:
    seed = int(ctx.options.get("split_seed", 0))
    data = disjoint_union((ds[i] for i in range(len(ds))), seed=seed, train=float(ctx.options.get("train", 0.8)),
                          val=float(ctx.options.get("val", 0.1)))  # fmt: skip
    return GraphData(name=label, task="graph-classification", data=data, num_features=int(data.x.shape[1]),
                     num_classes=int(data.y.max()) + 1, source=source,
                     split=f"stratified 80/10/10 by graph, seed {seed} (the dataset has no official split)")  # fmt: skip


@hookimpl
def gnneval_register_dataset_loaders(register):
    register.add_dataset_loader(
        "pyg-datasets",
        PygDatasetLoader,
        description="any torch_geometric.datasets class by name (Amazon, Coauthor, Flickr, Reddit, WikiCS, ...)",
    )
