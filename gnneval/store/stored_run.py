"""A stored run as a Python object: what ``gnneval.read_run`` returns.

    >>> import gnneval
    >>> run = gnneval.read_run("runs/gcn_cora-structured")      # a run folder, or its run.h5
    >>> run.dense.metrics["accuracy.test"]                       # typed records: VariantResult, Provenance, ...
    >>> df = run.to_pandas()                                     # the tidy table of ``gnneval show --format csv``
    >>> x = run.embeddings("structured@0.50", "convs.0")         # one layer of one variant, read on request

Every number is the one run.h5 holds (nothing is recomputed); embeddings stay in the file until asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from gnneval.core.records import RunResult


@dataclass
class StoredRun(RunResult):
    """A :class:`~gnneval.core.records.RunResult` read from ``path`` (a run folder's run.h5), with the tidy
    table and embeddings on request.  Its variants' ``outputs.embeddings`` read each layer when first used."""

    path: Path = Path()

    def tidy(self) -> list[dict[str, Any]]:
        """Every number of the run, one row each: the columns of docs/run-file.md's tidy table."""
        from gnneval.store.tidy import tidy_rows

        return tidy_rows(self)

    def to_pandas(self) -> Any:
        """:meth:`tidy` as a ``pandas.DataFrame`` (``pip install 'gnneval[pandas]'``), columns in the documented
        order; the repeats of ``--seeds`` are rows of their own (group by ``variant`` for their mean)."""
        try:
            import pandas as pd
        except ImportError:
            raise ModuleNotFoundError(
                "StoredRun.to_pandas() needs pandas, which is not installed: pip install 'gnneval[pandas]' "
                "(or use .tidy(), a list of dicts)",
                name="pandas",
            ) from None
        from gnneval.store.tidy import COLUMNS

        return pd.DataFrame(self.tidy(), columns=list(COLUMNS))

    def embeddings(self, variant: str = "dense", layer: str | None = None) -> np.ndarray:
        """``[N, d]`` embeddings of ``layer`` (default: the shown layer, :meth:`shown_layer`) of ``variant``
        (an id of :attr:`variants`, e.g. ``"structured@0.50"`` or a repeat ``"random@0.90~s1"``); ``[S, d]``,
        row ``i`` being node ``graph.embedding_nodes[i]``, when the run stored a sample (``--store-embeddings``).

        :raises KeyError: naming the variants or layers there are, for one that is not stored."""
        ids = [v.id for v in self.variants]
        if variant not in ids:
            raise KeyError(f"no variant {variant!r} in {self.path}; its variants: {', '.join(ids)}")
        outputs = self.variant(variant).outputs
        layers = list(outputs.embeddings) if outputs is not None else []
        name = layer or self.shown_layer()
        if name is None or name not in layers:
            raise KeyError(f"variant {variant!r} has no stored layer {name!r}; its layers: {', '.join(layers)}")
        assert outputs is not None
        return np.asarray(outputs.embeddings[name])


def read_run(path: str | os.PathLike[str]) -> StoredRun:
    """The run in ``path`` (a run folder or its ``run.h5``) as a :class:`StoredRun`; a path that is not a run is
    a one-line :class:`~gnneval.core.errors.UsageError`."""
    from gnneval.store.hdf5 import read_run as read_file

    p = Path(path)
    run = read_file(p, lazy=True)
    return StoredRun(
        **{f.name: getattr(run, f.name) for f in fields(RunResult)}, path=p / "run.h5" if p.is_dir() else p
    )
