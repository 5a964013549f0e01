"""Where datasets live, and choosing the dataset loader for a name.

The data root comes from ``--data-root``, else ``$GNNEVAL_DATA``, else a
per-user cache directory.  Loaders never write into the user's root (it may be
a shared, read-only folder of raw files): they copy the raw files into the
cache with :func:`stage_raw_files`, where the dataset library writes its
processed files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gnneval.core.contract import DatasetContext, DatasetRef, GraphData
from gnneval.core.errors import UsageError, one_line, suggest

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.registry import Registry

DATA_ENV = "GNNEVAL_DATA"


def resolve_data_root(option: str | os.PathLike[str] | None) -> Path | None:
    """The user's data root: the option, else ``$GNNEVAL_DATA``, else None (use the cache)."""
    value = option if option else os.environ.get(DATA_ENV)
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        source = "--data-root" if option else f"${DATA_ENV}"
        raise UsageError(f"the data root {root} (from {source}) is not a folder; create it or point {source} elsewhere")
    return root


def find_raw_dir(roots: Sequence[Path | None], relative: Sequence[str], required: Sequence[str]) -> Path | None:
    """Find a folder ``<root>/<relative>`` that holds every file in ``required``.

    ``relative`` lists candidate sub-paths (e.g. ``["Cora/raw", "Planetoid/Cora/raw"]``) so a
    root may point at a dataset family or at a folder of families.
    """
    for root in roots:
        if root is None:
            continue
        for rel in relative:
            cand = root / rel
            if cand.is_dir() and all((cand / f).is_file() for f in required):
                return cand
    return None


def stage_raw_files(raw_dir: Path, dest_raw_dir: Path, files: Sequence[str]) -> Path:
    """Copy ``files`` from a (possibly read-only) ``raw_dir`` into ``dest_raw_dir``; returns it.

    Files already present with the same size are kept.
    """
    dest_raw_dir.mkdir(parents=True, exist_ok=True)
    for name in files:
        src, dst = raw_dir / name, dest_raw_dir / name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            tmp = dst.with_name(dst.name + ".tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
    return dest_raw_dir


def link_split(data: Any, seed: int, num_val: float = 0.05, num_test: float = 0.1) -> Any:
    """Split an undirected graph's edges for link prediction with a seeded ``RandomLinkSplit``.

    Returns a copy of ``data`` whose ``edge_index`` holds only the training edges (what the model
    passes messages over) and which carries ``val_edge_label_index`` / ``val_edge_label`` and
    ``test_edge_label_index`` / ``test_edge_label`` (one sampled non-edge per true edge).
    """
    import random

    import torch
    from torch_geometric.transforms import RandomLinkSplit

    # PyG's negative sampling draws from Python's ``random`` as well as torch: seed both, restore both,
    # so the split depends on ``seed`` alone and not on what ran before in the process.
    py_state = random.getstate()
    try:
        random.seed(seed)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            train, val, test = RandomLinkSplit(
                num_val=num_val, num_test=num_test, is_undirected=True, add_negative_train_samples=False
            )(data)
    finally:
        random.setstate(py_state)
    out = train.clone()
    for name, part in (("val", val), ("test", test)):
        setattr(out, f"{name}_edge_label_index", part.edge_label_index)
        setattr(out, f"{name}_edge_label", part.edge_label.long())
    del out.edge_label, out.edge_label_index
    return out


def load_dataset(registry: Registry, ref: DatasetRef, ctx: DatasetContext) -> tuple[GraphData, str]:
    """Load ``ref`` with the loader it names, else the first loader that handles its name.

    :returns: the dataset and the name of the loader that loaded it.
    """
    loaders = registry.items("dataset-loader")
    reg = None
    if ref.loader and ref.loader in registry.names("dataset-loader"):
        reg = registry.get("dataset-loader", ref.loader)
    else:
        for cand in loaders:
            try:
                if cand.obj(**cand.options).handles(ref.name):
                    reg = cand
                    break
            except Exception:  # noqa: BLE001 - a broken loader cannot claim the name
                continue
    if reg is None:
        known = []
        for cand in loaders:
            try:
                known.extend(cand.obj(**cand.options).names())
            except Exception:  # noqa: BLE001
                continue
        listing = ", ".join(known) if known else "none"
        raise UsageError(f"unknown dataset '{ref.name}'{suggest(ref.name, known)}; known datasets: {listing}")
    ctx.options = {**ref.options, **ctx.options}
    try:
        data = reg.obj(**reg.options).load(ref.name, ctx)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"dataset loader '{reg.name}' failed to load '{ref.name}': {one_line(exc)}") from exc
    return data, reg.name


def graph_split(y: Any, *, seed: int, train: float = 0.8, val: float = 0.1) -> dict:
    """Seeded split of graphs stratified by class: ``{"train_mask", "val_mask", "test_mask"}`` over graphs.
    Every class gets ``round(train * n_c)`` training and ``round(val * n_c)`` validation graphs (at least
    one test graph where a class has three or more)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    n = int(y.shape[0])
    masks = {k: torch.zeros(n, dtype=torch.bool) for k in ("train_mask", "val_mask", "test_mask")}
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).view(-1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_tr = int(round(train * len(idx)))
        n_va = int(round(val * len(idx)))
        if len(idx) >= 3 and n_tr + n_va >= len(idx):
            n_tr = len(idx) - n_va - 1
        masks["train_mask"][idx[:n_tr]] = True
        masks["val_mask"][idx[n_tr : n_tr + n_va]] = True
        masks["test_mask"][idx[n_tr + n_va :]] = True
    return masks


def disjoint_union(graphs: Any, *, seed: int, train: float = 0.8, val: float = 0.1) -> Any:
    """One ``Data`` holding ``graphs`` side by side (torch_geometric's ``Batch.from_data_list``): ``x``
    (float), ``edge_index``, ``batch`` (the graph of every node), per-graph ``y`` and the
    :func:`graph_split` masks -- how gnneval represents a graph-classification dataset."""
    from torch_geometric.data import Batch, Data

    union = Batch.from_data_list(list(graphs))
    y = union.y.view(-1).long()
    return Data(
        x=union.x.float(),
        edge_index=union.edge_index,
        batch=union.batch,
        y=y,
        num_nodes=int(union.num_nodes),
        **graph_split(y, seed=seed, train=train, val=val),
    )


def _under_raw(rel: Path) -> bool:
    return "raw" in rel.parts[:-1]


def stage_tree(source: Path, dest: Path, keep: Callable[[Path], bool] = _under_raw) -> list[str]:
    """Copy the files of ``source`` (a dataset's folder in the user's data root, laid out as its library lays it
    out) that ``keep`` accepts (by path relative to ``source``; default: those under a ``raw`` folder) to the same
    place under ``dest`` (the cache), as :func:`stage_raw_files` does; ``source`` is never written to.  Returns
    the copied files' paths relative to ``source``."""
    copied = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_file() and keep(rel):
            stage_raw_files(path.parent, dest / rel.parent, [path.name])
            copied.append(str(rel))
    return copied


def node_split(y: Any, *, seed: int, train: float = 0.6, val: float = 0.2) -> dict:
    """A seeded node split stratified by class, for a dataset without an official one: ``{"train_mask",
    "val_mask", "test_mask"}``, ``train`` and ``val`` of every class's nodes, the rest for testing."""
    return graph_split(y, seed=seed, train=train, val=val)


def official_masks(data: Any, index: int) -> tuple[dict, str] | None:
    """The dataset's own ``train_mask``/``val_mask``/``test_mask`` (2-D masks, one column per official split, as
    WikiCS and the WebKB graphs keep them: column ``index``), or None when it has none."""
    found = {s: getattr(data, f"{s}_mask", None) for s in ("train", "val", "test")}
    if any(m is None for m in found.values()):
        return None
    masks: dict[str, Any] = dict(found)
    if all(m.dim() == 1 for m in masks.values()):
        return {f"{s}_mask": m.bool() for s, m in masks.items()}, "the dataset's official split"
    cols = {s: (m if m.dim() == 2 else m[:, None]) for s, m in masks.items()}
    n = min(m.shape[1] for m in masks.values() if m.dim() == 2)  # a 1-D mask is shared by every split
    if not 0 <= index < n:
        raise UsageError(f"split_index {index}: the dataset has {n} official splits (0 to {n - 1})")
    return ({f"{s}_mask": c[:, min(index, c.shape[1] - 1)].bool() for s, c in cols.items()},
            f"the dataset's official split {index} of {n} (--dataset-option split_index=K chooses another)")  # fmt: skip
