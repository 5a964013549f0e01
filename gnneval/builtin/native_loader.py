"""Loader for gnneval's native checkpoint format (see :mod:`gnneval.checkpoint`)."""

from __future__ import annotations

from pathlib import Path

from gnneval.checkpoint import FORMAT, FORMAT_VERSION, torch_load
from gnneval.errors import UsageError, one_line
from gnneval.plugin import CheckpointLoader, DatasetRef, LoadContext, LoadedCheckpoint, hookimpl


class NativeLoader(CheckpointLoader):
    priority = 100

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        obj = torch_load(path, trust=ctx.trust)
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            return None
        version = obj.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise UsageError(
                f"{path} is a gnneval checkpoint of format version {version!r}; this gnneval reads up to "
                f"{FORMAT_VERSION}: upgrade gnneval"
            )
        try:
            arch = obj["architecture"]
            name, kwargs = arch["name"], dict(arch.get("kwargs", {}))
            state = obj["state_dict"]
        except (KeyError, TypeError) as exc:
            raise UsageError(f"{path} is a damaged gnneval checkpoint: missing {exc}") from None
        model = ctx.build_model(name, **kwargs)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise UsageError(
                f"{path}: the weights do not fit architecture '{name}' with {kwargs}: {one_line(exc)[:300]}"
            ) from None
        model.eval()
        ds = obj.get("dataset")
        dataset = None
        if isinstance(ds, dict) and ds.get("name"):
            dataset = DatasetRef(name=ds["name"], loader=ds.get("loader"), split=ds.get("split", "public"),
                                 options=dict(ds.get("options") or {}))
        meta = {k: obj.get(k) for k in ("metrics", "training", "versions", "created") if k in obj}
        return LoadedCheckpoint(model=model, architecture=name, architecture_kwargs=kwargs,
                                task=obj.get("task"), dataset=dataset, metadata=meta)


@hookimpl
def gnneval_register_checkpoint_loaders(register):
    register.add_checkpoint_loader("native", NativeLoader,
                                   description="gnneval's own format: architecture as data, weights_only-safe")
