"""OGB (Hu et al. 2020): ``ogbn-*`` node, ``ogbg-*`` graph and ``ogbl-*`` link property prediction through the
``ogb`` package (``pip install 'gnneval[ogb]'``), with each dataset's **official split** (``get_idx_split``,
``get_edge_split``) and its **official Evaluator** as the run's headline (the ``ogb-evaluator`` metric: accuracy,
ROC-AUC, Hits@K or MRR, as the dataset defines it).

Files already on disk are used: ``<data root>/<ogbn_arxiv>/`` as OGB lays it out (``raw/*.csv.gz``,
``split/<type>/*.csv.gz``, ``RELEASE_v<N>.txt``) is copied into the cache, where OGB writes its processed files;
the user's folder is never written to.  Otherwise OGB downloads as usual.  Node features stay as the
dataset has them: the molecular datasets' are categorical atom and bond types (integers) that an
``AtomEncoder`` embeds; single-task datasets only (a multi-task one is refused, saying so).
"""

from __future__ import annotations

import builtins
import contextlib
import io
from pathlib import Path
from typing import Any

from gnneval.plugin import DatasetContext, DatasetLoader, GraphData, UsageError, hookimpl
from gnneval.plugin.helpers import stage_tree

PREFIXES = ("ogbn-", "ogbg-", "ogbl-")
EXAMPLES = ("ogbn-arxiv", "ogbn-products", "ogbg-molhiv", "ogbg-molpcba", "ogbl-collab", "ogbl-ddi")


class OgbLoader(DatasetLoader):
    """OGB node, graph and link property prediction datasets with their official splits and Evaluators."""

    def names(self) -> list[str]:
        return [*EXAMPLES, "any other ogbn-/ogbg-/ogbl- name"]

    def handles(self, name: str) -> bool:
        return name.lower().startswith(PREFIXES)

    def load(self, name: str, ctx: DatasetContext) -> GraphData:
        try:
            import ogb  # noqa: F401
        except ImportError:
            raise UsageError(f"dataset {name} needs the ogb package, which is not installed: pip install "
                             "'gnneval[ogb]'") from None  # fmt: skip
        name = name.lower()
        root = ctx.cache_dir / "datasets" / "ogb"
        source = _stage(name, ctx, root)
        ds = _open(name, root)
        if getattr(ds, "num_tasks", 1) != 1:  # link datasets have no num_tasks
            raise UsageError(
                f"dataset {name} has {getattr(ds, 'num_tasks', 1)} tasks (multi-label): gnneval evaluates one task"
            )
        kind = name[:5]
        said = f"the official OGB split ({ds.meta_info['split']}); headline: OGB Evaluator '{ds.eval_metric}'"
        negatives = 0
        if kind == "ogbn-":
            data, task = _nodes(ds), "node-classification"
        elif kind == "ogbg-":
            data, task = _graphs(ds), "graph-classification"
        else:
            (data, negatives), task = _links(ds, name), "link-prediction"
        x = data.x
        if x is None:
            raise UsageError(f"dataset {name} has no node features (its models learn an embedding per node): gnneval "
                             "evaluates models that read node features")  # fmt: skip
        return GraphData(name=name, task=task, data=data, num_features=int(x.shape[1]),
                         num_classes=max(int(ds.meta_info.get("num classes", 0) or 0), int(data.y.max()) + 1)
                         if task != "link-prediction" else 1, source=f"ogb {ogb_version()}: {source}", split=said,
                         evaluator=name, link_negatives=negatives)  # fmt: skip


def ogb_version() -> str:
    import ogb

    return str(getattr(ogb, "__version__", "?"))


def _stage(name: str, ctx: DatasetContext, root: Path) -> str:
    """Copy ``<data root>/<dir>/`` (everything but ``processed``) into the cache; say where the files came from."""
    folder = name.replace("-", "_")
    if ctx.root is None or not (Path(ctx.root) / folder).is_dir():
        return "downloaded" if not (root / folder).is_dir() else str(root / folder)
    src, dst = Path(ctx.root) / folder, root / folder
    stage_tree(src, dst, keep=lambda rel: rel.parts[0] != "processed")
    return f"{src} (copied to {dst})"


def _open(name: str, root: Path) -> Any:
    from ogb.graphproppred import PygGraphPropPredDataset
    from ogb.linkproppred import PygLinkPropPredDataset
    from ogb.nodeproppred import PygNodePropPredDataset

    cls = {"ogbn-": PygNodePropPredDataset, "ogbg-": PygGraphPropPredDataset, "ogbl-": PygLinkPropPredDataset}[name[:5]]
    import torch

    buf, asked = io.StringIO(), builtins.input
    builtins.input = lambda *_a, **_k: "n"  # OGB asks on stdin whether to re-download an old version: never wait
    try:
        # OGB reloads what it processed into our cache with torch.load, weights-only since torch 2.6: allow
        # torch_geometric's own data classes (and nothing else) for that one file
        with (
            contextlib.redirect_stdout(buf),
            contextlib.redirect_stderr(buf),
            torch.serialization.safe_globals(_pyg_data_classes()),
        ):
            return cls(name=name, root=str(root))
    except ValueError:
        raise UsageError(f"unknown OGB dataset '{name}' (ogb {ogb_version()} lists it in no master.csv)") from None
    except Exception as exc:  # noqa: BLE001 - no internet, or damaged files
        raise UsageError(f"dataset {name} is not on disk and could not be downloaded ({type(exc).__name__}); put "
                         f"its folder {name.replace('-', '_')}/ (raw/, split/, RELEASE_v1.txt) in the data root") from None  # fmt: skip
    finally:
        builtins.input = asked


def _pyg_data_classes() -> list[Any]:
    """The classes a processed torch_geometric dataset file pickles (what OGB's processed files hold)."""
    from torch_geometric.data import Data
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import EdgeStorage, GlobalStorage, NodeStorage

    return [Data, DataEdgeAttr, DataTensorAttr, GlobalStorage, NodeStorage, EdgeStorage]


def _masks(n: int, split: dict[str, Any]) -> dict[str, Any]:
    import torch

    out = {}
    for ours, theirs in (("train", "train"), ("val", "valid"), ("test", "test")):
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.as_tensor(split[theirs]).long()] = True
        out[f"{ours}_mask"] = mask
    return out


def _nodes(ds: Any) -> Any:
    data = ds[0]
    data.y = data.y.view(-1).long()
    for key, mask in _masks(int(data.num_nodes), ds.get_idx_split()).items():
        setattr(data, key, mask)
    if data.x.is_floating_point():
        data.x = data.x.float()
    return data


def _graphs(ds: Any) -> Any:
    from torch_geometric.data import Batch, Data

    union = Batch.from_data_list([ds[i] for i in range(len(ds))])
    data = Data(x=union.x, edge_index=union.edge_index, batch=union.batch, y=union.y.view(-1).long())
    if getattr(union, "edge_attr", None) is not None:
        data.edge_attr = union.edge_attr
    for key, mask in _masks(len(ds), ds.get_idx_split()).items():
        setattr(data, key, mask)
    return data


def _links(ds: Any, name: str) -> tuple[Any, int]:
    """The training graph for message passing; the official validation and test edges with their negatives, and
    the negatives each positive is ranked against (MRR datasets such as ogbl-citation2; 0: pooled, Hits@K)."""
    import torch

    data = ds[0]
    split = ds.get_edge_split()
    ranked = "source_node" in split["test"] and "target_node_neg" in split["test"]
    if not ranked and ("edge" not in split["test"] or "edge_neg" not in split["test"]):
        raise UsageError(f"dataset {name}'s split has neither edge/edge_neg (Hits@K) nor source_node/target_node/"
                         "target_node_neg (MRR) entries: gnneval cannot read its evaluation edges")  # fmt: skip
    negatives = 0
    for ours, theirs in (("val", "valid"), ("test", "test")):
        part = split[theirs]
        if ranked:  # each positive (s, t) then its K negatives (s, t'_1..K), row by row
            src, negs = part["source_node"].long(), part["target_node_neg"].long()
            negatives = int(negs.shape[1])
            pos = torch.stack([src, part["target_node"].long()])
            neg = torch.stack([src.repeat_interleave(negatives), negs.reshape(-1)])
        else:
            pos, neg = part["edge"].t(), part["edge_neg"].t()
        setattr(data, f"{ours}_edge_label_index", torch.cat([pos, neg], dim=1))
        setattr(data, f"{ours}_edge_label", torch.cat([torch.ones(pos.shape[1]), torch.zeros(neg.shape[1])]).long())
    n = int(data.num_nodes)
    data.y = torch.zeros(n, dtype=torch.long)
    for key in ("train_mask", "val_mask", "test_mask"):
        setattr(data, key, torch.zeros(n, dtype=torch.bool))
    if data.x is not None and data.x.is_floating_point():
        data.x = data.x.float()
    return data, negatives


@hookimpl
def gnneval_register_dataset_loaders(register):
    register.add_dataset_loader(
        "ogb", OgbLoader, description="OGB ogbn-/ogbg-/ogbl- datasets: official splits and Evaluators (ogb package)"
    )
