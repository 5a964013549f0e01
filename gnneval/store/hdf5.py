"""One HDF5 file per run: writing it atomically and reading it back.

The layout is documented in docs/run-file.md (a test checks that page against what is written here).
Every write goes to ``<file>.tmp`` first and replaces the file with ``os.replace`` after an fsync, so a
run killed at any moment leaves either the previous complete file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from gnneval.core.records import (
    BenchResult,
    GraphArrays,
    Problem,
    Provenance,
    RunResult,
    ShownColumn,
    VariantOutputs,
    VariantResult,
)
from gnneval.store.stored_rows import describe, write_rows

FORMAT = "gnneval-run"
FORMAT_VERSION = 2  #: 2 adds /columns and the pictures' captions; version 1 files read without them
_JSON_PROVENANCE = ("architecture_kwargs", "versions", "plugins", "settings", "checkpoint_metadata", "resolved")
_SCALAR_VARIANT = (
    "pruner",
    "sparsity",
    "status",
    "error",
    "params",
    "nonzero_params",
    "size_bytes",
    "flops",
    "flops_sparse",
    "training_flops",
    "checkpoint_bytes",
    "edges",
    "weight_sparsity",
    "param_reduction",
    "seconds",
)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.generic,)):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def _dumps(obj: Any) -> str:
    return json.dumps(_jsonable(obj), sort_keys=True)


def _write(f, result: RunResult) -> None:
    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    _write_graph(f.create_group("graph"), result.graph)
    vs = f.create_group("variants")
    vs.attrs["order"] = json.dumps([v.id for v in result.variants])
    dense_pred = next(
        (v.outputs.predictions for v in result.variants if v.id == "dense" and v.outputs is not None), None
    )
    for v in result.variants:
        grp = vs.create_group(v.id)
        _write_variant(grp, v, dense_pred if result.graph.task == "node-classification" else None,
                       result.graph.embedding_nodes)  # fmt: skip
        grp.attrs["complete"] = True
    _write_meta(f, result)


def _write_graph(g: Any, graph: GraphArrays) -> None:
    for k in ("name", "task", "num_classes", "num_features"):
        g.attrs[k] = getattr(graph, k)
    if graph.evaluator:  # only datasets with an official evaluator carry it
        g.attrs["evaluator"] = graph.evaluator
    if graph.link_negatives:  # only ranked link prediction (MRR) carries it
        g.attrs["link_negatives"] = graph.link_negatives
    g.create_dataset("y", data=graph.y.astype(np.int64))
    g.create_dataset("edge_index", data=graph.edge_index.astype(np.int64), compression="gzip")
    if graph.batch is not None:
        g.create_dataset("batch", data=graph.batch.astype(np.int64), compression="gzip")
    g.attrs["stored_embeddings"] = describe(graph.embedding_nodes, graph.num_nodes)
    if graph.embedding_nodes is not None:
        g.create_dataset("embedding_nodes", data=graph.embedding_nodes.astype(np.int64))
    masks = g.create_group("masks")
    for k, m in graph.masks.items():
        masks.create_dataset(k, data=m.astype(bool))
    link = g.create_group("link")
    for split, (index, label) in graph.link.items():
        link.create_dataset(f"{split}_index", data=index.astype(np.int64))
        link.create_dataset(f"{split}_label", data=label.astype(np.int64))


def _write_variant(grp: Any, v: VariantResult, dense_pred: np.ndarray | None, rows: np.ndarray | None) -> None:
    for k in _SCALAR_VARIANT:
        val = getattr(v, k)
        grp.attrs[k] = "" if val is None else val
    if v.seed is not None:  # only runs that repeat seeds carry these
        grp.attrs["seed"] = v.seed
    if v.deterministic:
        grp.attrs["deterministic"] = True
    grp.attrs["details"] = _dumps(v.details)
    grp.attrs["layer_sparsity"] = _dumps(v.layer_sparsity)
    grp.attrs["weight_histograms"] = _dumps(v.weight_histograms)
    met = grp.create_group("metrics")
    for k, val in v.metrics.items():
        met.attrs[k] = float(val)
    lm = grp.create_group("layer_metrics")
    if v.outputs is not None:
        rows = None if v.outputs.rows is not None else rows  # outputs already cut to the stored rows
        write_rows(grp, "logits", v.outputs.logits, rows)
        grp.create_dataset("predictions", data=v.outputs.predictions.astype(np.int64))
        if dense_pred is not None:
            flipped = np.flatnonzero(v.outputs.predictions != dense_pred).astype(np.int64)
            grp.create_dataset("flipped_nodes", data=flipped)
        emb = grp.create_group("embeddings")
        for i, (layer, arr) in enumerate(v.outputs.embeddings.items()):
            if rows is not None and rows.size == 0:
                break  # --store-embeddings none
            ds = write_rows(emb, f"{i}:{layer}", arr, rows)
            ds.attrs["layer"] = layer  # type: ignore[attr-defined]
            ds.attrs["index"] = i  # type: ignore[attr-defined]
    for i, layer in enumerate(v.layer_metrics):
        sub = lm.create_group(f"{i}:{layer}")
        sub.attrs["layer"] = layer
        sub.attrs["index"] = i
        for k, val in v.layer_metrics[layer].items():
            sub.attrs[k] = float(val)
    b = grp.create_group("bench")
    for br in v.bench:
        sub = b.create_group(f"{br.backend}-{br.device}")
        for k, val in asdict(br).items():
            sub.attrs[k] = val


def write_run(path: str | os.PathLike[str], result: RunResult) -> Path:
    """Write ``result`` to ``path`` atomically (temporary file, fsync, rename)."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with h5py.File(tmp, "w") as f:
            _write(f, result)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def append_variant(path: str | os.PathLike[str], result: RunResult, v: VariantResult) -> Path:
    """Add one variant to an existing run file in place — its group written and flushed first, then marked
    ``complete`` and listed in ``/variants`` ``order`` — and refresh the run's problems and columns.  The cost
    is the variant's own data, not the file's: a run with large metadata or a large graph is not rewritten
    after every variant.  A variant torn by a kill (no ``complete`` mark) is ignored when the file is read."""
    import h5py

    dense = next((x for x in result.variants if x.id == "dense" and x.outputs is not None), None)
    dense_pred = dense.outputs.predictions if dense is not None and result.graph.task == "node-classification" else None
    with h5py.File(path, "a") as f:
        vs = f["variants"]
        if v.id in vs:
            del vs[v.id]
        grp = vs.create_group(v.id)
        _write_variant(grp, v, dense_pred if v.id != "dense" else None, result.graph.embedding_nodes)
        f.flush()
        grp.attrs["complete"] = True
        vs.attrs["order"] = json.dumps([x.id for x in result.variants])
        _write_meta(f, result)
        f.flush()
    return Path(path)


def update_meta(path: str | os.PathLike[str], result: RunResult) -> Path:
    """Refresh the run's provenance, problems, pictures and columns in place (after drawing, after an addition)."""
    import h5py

    with h5py.File(path, "a") as f:
        _write_meta(f, result)
    return Path(path)


def _write_meta(f: Any, result: RunResult) -> None:
    for name in ("provenance", "problems", "files", "columns", "intervals"):
        if name in f:
            del f[name]
    prov = f.create_group("provenance")
    for k, v in asdict(result.provenance).items():
        prov.attrs[k] = _dumps(v) if k in _JSON_PROVENANCE else v
    f.create_group("problems").attrs["json"] = _dumps([asdict(p) for p in result.problems])
    files = f.create_group("files")
    for k, val in result.files.items():
        files.attrs[k] = str(val)
    if result.captions:
        files.attrs["_captions"] = _dumps(result.captions)
    if result.ranks:
        files.attrs["_ranks"] = _dumps(result.ranks)
    f.create_group("columns").attrs["json"] = _dumps([asdict(c) for c in result.columns])
    f.create_group("intervals").attrs["json"] = _dumps(result.intervals)


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


class LazyEmbeddings(Mapping[str, np.ndarray]):
    """A variant's embeddings, layer -> ``[N, d]`` array, each read from run.h5 when first asked for (the
    layers and their order are known at once)."""

    def __init__(self, path: Path, variant: str, names: dict[str, str]) -> None:
        self._path, self._variant, self._names = path, variant, names  # layer -> dataset name
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, layer: str) -> np.ndarray:
        if layer not in self._cache:
            import h5py

            ds = self._names[layer]  # KeyError for a layer the variant does not have
            with h5py.File(self._path, "r") as f:
                self._cache[layer] = f["variants"][self._variant]["embeddings"][ds][()]
        return self._cache[layer]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def read_run(path: str | os.PathLike[str], *, lazy: bool = False) -> RunResult:
    """Read a run file written by :func:`write_run` back into a :class:`RunResult`; ``lazy``: every variant's
    embeddings read from the file only when a layer is asked for (:class:`LazyEmbeddings`)."""
    import h5py

    from gnneval.core.errors import UsageError

    path = Path(path)
    if path.is_dir():
        path = path / "run.h5"
    if not path.is_file():
        raise UsageError(f"{path} does not exist; give a run folder or its run.h5")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise UsageError(f"{path} is not a readable HDF5 file ({exc})") from None
    with f:
        if _attr(f.attrs.get("format")) != FORMAT:
            raise UsageError(f"{path} is an HDF5 file but not a gnneval run (no format='gnneval-run' attribute)")
        pa = {k: _attr(v) for k, v in f["provenance"].attrs.items()}
        for k in _JSON_PROVENANCE:
            pa[k] = json.loads(pa.get(k, "{}"))
        names = {fl.name for fl in fields(Provenance)}
        prov = Provenance(**{k: v for k, v in pa.items() if k in names})
        graph = _read_graph(f["graph"])
        vs = f["variants"]
        variants = [
            _read_variant(vid, vs[vid], path if lazy else None, graph.embedding_nodes)
            for vid in json.loads(_attr(vs.attrs["order"]))
            if vid in vs and bool(vs[vid].attrs.get("complete", True))
        ]  # a torn last variant is skipped
        problems = [Problem(**p) for p in json.loads(_attr(f["problems"].attrs["json"]))]
        files = {k: _attr(val) for k, val in f["files"].attrs.items() if k not in ("_captions", "_ranks")}
        captions = json.loads(_attr(f["files"].attrs.get("_captions", "{}")))
        ranks = json.loads(_attr(f["files"].attrs.get("_ranks", "{}")))
        columns = [ShownColumn(**c) for c in json.loads(_attr(f["columns"].attrs["json"]))] if "columns" in f else []
        intervals = json.loads(_attr(f["intervals"].attrs["json"])) if "intervals" in f else {}
    return RunResult(
        provenance=prov,
        graph=graph,
        variants=variants,
        problems=problems,
        files=files,
        columns=columns,
        captions=captions,
        ranks=ranks,
        intervals=intervals,
    )


def _read_graph(g: Any) -> GraphArrays:
    return GraphArrays(
        name=_attr(g.attrs["name"]),
        task=_attr(g.attrs["task"]),
        y=g["y"][()],
        masks={k: g["masks"][k][()] for k in g["masks"]},
        edge_index=g["edge_index"][()],
        num_classes=int(g.attrs["num_classes"]),
        num_features=int(g.attrs["num_features"]),
        link={
            s: (g["link"][f"{s}_index"][()], g["link"][f"{s}_label"][()])
            for s in ("val", "test")
            if "link" in g and f"{s}_index" in g["link"]
        },
        batch=g["batch"][()] if "batch" in g else None,
        evaluator=str(_attr(g.attrs.get("evaluator", ""))),
        link_negatives=int(_attr(g.attrs.get("link_negatives", 0))),
        embedding_nodes=g["embedding_nodes"][()] if "embedding_nodes" in g else None,
    )


def _read_variant(vid: str, grp: Any, lazy_from: Path | None = None, rows: np.ndarray | None = None) -> VariantResult:
    kw = {k: _attr(grp.attrs[k]) for k in _SCALAR_VARIANT if k in grp.attrs}
    kw["pruner"] = kw["pruner"] or None
    v = VariantResult(id=vid, **kw)
    v.seed = int(grp.attrs["seed"]) if "seed" in grp.attrs else None
    v.deterministic = bool(grp.attrs.get("deterministic", False))
    v.details = json.loads(_attr(grp.attrs["details"]))
    v.layer_sparsity = json.loads(_attr(grp.attrs["layer_sparsity"]))
    v.weight_histograms = json.loads(_attr(grp.attrs.get("weight_histograms", "{}")))
    v.metrics = {k: float(val) for k, val in grp["metrics"].attrs.items()}
    if "logits" in grp:
        embs = sorted(grp["embeddings"].values(), key=lambda d: int(d.attrs["index"]))
        v.outputs = VariantOutputs(
            logits=grp["logits"][()],
            predictions=grp["predictions"][()],
            embeddings=LazyEmbeddings(lazy_from, vid, {_attr(d.attrs["layer"]): d.name.rsplit("/", 1)[1] for d in embs})
            if lazy_from is not None
            else {_attr(d.attrs["layer"]): d[()] for d in embs},  # type: ignore[arg-type]
            rows=rows,
        )
    for sub in sorted(grp["layer_metrics"].values(), key=lambda s: int(s.attrs["index"])):
        v.layer_metrics[_attr(sub.attrs["layer"])] = {
            k: float(val) for k, val in sub.attrs.items() if k not in ("layer", "index")
        }
    for sub in grp["bench"].values():
        v.bench.append(BenchResult(**{k: _attr(val) for k, val in sub.attrs.items()}))
    return v
