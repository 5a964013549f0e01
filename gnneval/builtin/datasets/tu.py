"""TU graph-classification datasets (MUTAG, PROTEINS, and any other TUDataset name) through torch_geometric.

Raw files already on disk are used without a download: ``<root>/<NAME>/raw/<NAME>_*.txt`` (or
``<root>/TUDataset/<NAME>/raw``) in the user's data root or the cache; the user's root is never written
to (the raw files are copied into the cache, where PyG writes its processed files).

The dataset becomes one disjoint-union graph: ``x``, ``edge_index``, ``batch`` (the graph of every
node) and per-*graph* ``y`` and ``train_mask`` / ``val_mask`` / ``test_mask``: a seeded split
stratified by class, 80% / 10% / 10% (options ``split_seed``, default 0, and ``train``/``val``
fractions).  Models take ``(x, edge_index, batch)`` and return one row of logits per graph.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from gnneval.plugin import DatasetContext, DatasetLoader, GraphData, UsageError, hookimpl
from gnneval.plugin.helpers import disjoint_union, find_raw_dir, one_line, stage_raw_files

KNOWN = ("MUTAG", "PROTEINS", "ENZYMES", "NCI1", "IMDB-BINARY", "DD", "COLLAB", "REDDIT-BINARY")
MORE = ("Mutagenicity", "NCI109", "PTC_MR", "PTC_FM", "PTC_FR", "PTC_MM", "BZR", "COX2", "DHFR", "AIDS",
        "FRANKENSTEIN", "IMDB-MULTI", "REDDIT-MULTI-5K", "REDDIT-MULTI-12K", "PROTEINS_full", "MSRC_9", "MSRC_21",
        "KKI", "OHSU", "Peking_1", "BZR_MD", "COX2_MD", "DHFR_MD", "ER_MD", "Tox21_AhR_training", "github_stargazers",
        "deezer_ego_nets", "twitch_egos", "reddit_threads", "SYNTHETIC", "SYNTHETICnew", "Synthie", "TRIANGLES",
        "COIL-DEL", "COIL-RAG", "Letter-high", "Letter-low", "Letter-med", "Cuneiform", "MCF-7", "MOLT-4", "NCI-H23",
        "OVCAR-8", "P388", "PC-3", "SF-295", "SN12C", "SW-620", "UACC257", "Yeast")  # fmt: skip
"""TU names beyond the usual ones (``TUDataset`` with ``--dataset-option name=X`` reads any other)."""
REQUIRED = ("A", "graph_indicator", "graph_labels")


class TUDatasetLoader(DatasetLoader):
    """TU graph-classification datasets (MUTAG, PROTEINS, ...) through torch_geometric's ``TUDataset``, as
    one disjoint-union graph with a seeded, stratified train/val/test split of the graphs; raw files are
    found under the data root and copied into the cache, never written into the user's folder.
    """

    def names(self) -> list[str]:
        return list(KNOWN)

    def handles(self, name: str) -> bool:
        return name == "TUDataset" or name.lower() in {n.lower() for n in (*KNOWN, *MORE)}

    def load(self, name: str, ctx: DatasetContext) -> GraphData:
        from torch_geometric.datasets import TUDataset

        if name == "TUDataset":
            if not ctx.options.get("name"):
                raise UsageError("dataset TUDataset needs the TU name: --dataset-option name=Mutagenicity")
            name = str(ctx.options["name"])
        canonical = {n.lower(): n for n in (*KNOWN, *MORE)}.get(name.lower(), name)
        task = ctx.options.get("task", "graph-classification")
        if task != "graph-classification":
            raise UsageError(
                f"dataset {canonical} is a graph-classification dataset, not '{task}'; drop --task / the task option"
            )
        required = [f"{canonical}_{s}.txt" for s in REQUIRED]
        cache_root = ctx.cache_dir / "datasets" / "TUDataset"
        found = find_raw_dir([ctx.root, cache_root], [f"{canonical}/raw", f"TUDataset/{canonical}/raw"], required)
        if found is not None and found == cache_root / canonical / "raw":
            source = str(found)
        elif found is not None:  # never write into the user's folder
            files = sorted(p.name for p in found.iterdir() if p.is_file() and p.name.startswith(canonical + "_"))
            stage_raw_files(found, cache_root / canonical / "raw", files)
            source = f"{found} (copied to {cache_root / canonical / 'raw'})"
        else:
            source = "downloaded"
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                ds = TUDataset(str(cache_root), canonical)
        except Exception as exc:  # noqa: BLE001 - no internet, or damaged files
            where = ctx.root or cache_root
            raise UsageError(
                f"dataset {canonical} is not on disk and could not be downloaded ({one_line(exc)[:160]}); "
                f"put its raw files {required[0]} ... in {Path(where) / canonical / 'raw'} or point "
                f"--data-root / GNNEVAL_DATA at a folder that has {canonical}/raw"
            ) from None
        if ds.num_node_features == 0:
            raise UsageError(
                f"dataset {canonical} has no node features; gnneval needs them (add a feature "
                "transform in a dataset plugin)"
            )
        seed = int(ctx.options.get("split_seed", 0))
        data = disjoint_union(
            (ds[i] for i in range(len(ds))),
            seed=seed,
            train=float(ctx.options.get("train", 0.8)),
            val=float(ctx.options.get("val", 0.1)),
        )
        return GraphData(
            name=canonical,
            task="graph-classification",
            data=data,
            num_features=int(ds.num_node_features),
            num_classes=int(ds.num_classes),
            source=source,
            split=f"stratified 80/10/10 by graph, seed {seed}",
        )


@hookimpl
def gnneval_register_dataset_loaders(register):
    register.add_dataset_loader(
        "tu", TUDatasetLoader, description="TU graph classification: MUTAG, PROTEINS, ... (torch_geometric)"
    )
