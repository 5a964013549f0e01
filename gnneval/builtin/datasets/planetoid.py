"""Planetoid citation graphs (Cora, CiteSeer, PubMed) through torch_geometric.

Raw files already on disk are used without a download: they are looked up as
``<root>/<Name>/raw/ind.<name>.*`` (or ``<root>/Planetoid/<Name>/raw``) in the
user's data root and in the cache.  The user's root is never written to (it may
be shared or read-only): the raw files are copied into the cache, where PyG
writes its processed files.  Option ``task=link-prediction`` (with ``split_seed``, default 0)
splits the edges with a seeded ``RandomLinkSplit`` (5% validation, 10% test).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from gnneval.plugin import DatasetContext, DatasetLoader, GraphData, UsageError, hookimpl
from gnneval.plugin.helpers import find_raw_dir, link_split, one_line, stage_raw_files

NAMES = ("Cora", "CiteSeer", "PubMed")
SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def raw_files(name: str) -> list[str]:
    return [f"ind.{name.lower()}.{s}" for s in SUFFIXES]


class PlanetoidLoader(DatasetLoader):
    """Planetoid Cora, CiteSeer and PubMed through torch_geometric, with the public split (Yang et al.
    2016); raw files are found under the data root and copied into the cache, or downloaded where none are.
    """

    def names(self) -> list[str]:
        return list(NAMES)

    def load(self, name: str, ctx: DatasetContext) -> GraphData:
        from torch_geometric.datasets import Planetoid

        canonical = {n.lower(): n for n in NAMES}[name.lower()]
        files = raw_files(canonical)
        cache_root = ctx.cache_dir / "datasets" / "Planetoid"
        found = find_raw_dir([ctx.root, cache_root], [f"{canonical}/raw", f"Planetoid/{canonical}/raw"], files)
        if found is not None and found == cache_root / canonical / "raw":
            root, source = cache_root, str(found)
        elif found is not None:  # never write into the user's folder: it may be shared or read-only
            stage_raw_files(found, cache_root / canonical / "raw", files)
            root, source = cache_root, f"{found} (copied to {cache_root / canonical / 'raw'})"
        else:
            root, source = cache_root, "downloaded"
        split = ctx.options.get("split", "public")
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
                ds = Planetoid(str(root), canonical, split=split)
        except Exception as exc:  # noqa: BLE001 - no internet, or damaged files
            where = ctx.root or cache_root
            raise UsageError(
                f"dataset {canonical} is not on disk and could not be downloaded ({one_line(exc)[:160]}); "
                f"put the raw files {files[0]} ... {files[-1]} in {Path(where) / canonical / 'raw'} "
                f"or point --data-root / GNNEVAL_DATA at a folder that has {canonical}/raw"
            ) from None
        data = ds[0]
        task = ctx.options.get("task", "node-classification")
        if task == "link-prediction":
            data = link_split(data, seed=int(ctx.options.get("split_seed", 0)))
        return GraphData(
            name=canonical,
            task=task,
            data=data,
            num_features=int(ds.num_features),
            num_classes=int(ds.num_classes),
            source=source,
            split=split,
        )


@hookimpl
def gnneval_register_dataset_loaders(register):
    register.add_dataset_loader(
        "planetoid", PlanetoidLoader, description="Planetoid Cora, CiteSeer, PubMed (torch_geometric)"
    )
