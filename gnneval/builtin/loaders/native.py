"""Loader for gnneval's native checkpoint format (see :mod:`gnneval.load.checkpoint`)."""

from __future__ import annotations

from pathlib import Path

from gnneval.plugin import CheckpointLoader, DatasetRef, LoadContext, LoadedCheckpoint, UsageError, hookimpl
from gnneval.plugin.helpers import (
    NATIVE_FORMAT,
    NATIVE_FORMAT_VERSION,
    check_declared_sizes,
    check_total,
    declared_size,
    decode_tensor,
    one_line,
    sync_sizes,
    torch_load,
    unpack_bits,
)


def fit_to_state(model, state) -> list[str]:
    """Give ``model`` the tensor shapes of ``state`` (a variant whose channels were removed) and update
    the sizes its modules store (:func:`gnneval.prune.module_sizes.sync_sizes`); returns the resized names."""
    import torch

    own = model.state_dict()
    resized = []
    for key, value in state.items():
        if key not in own or tuple(own[key].shape) == tuple(value.shape):
            continue
        prefix, _, attr = key.rpartition(".")
        owner = model.get_submodule(prefix) if prefix else model
        old = getattr(owner, attr)
        new = torch.empty(tuple(value.shape), dtype=old.dtype)
        if isinstance(old, torch.nn.Parameter):
            setattr(owner, attr, torch.nn.Parameter(new, requires_grad=old.requires_grad))
        else:
            owner._buffers[attr] = new
        resized.append(key)
    sync_sizes(model)
    return resized


class NativeLoader(CheckpointLoader):
    """Reads gnneval's own checkpoint format: plain data and tensors (``weights_only``-safe), the architecture
    as a registered name with keyword arguments, recorded scores checked after evaluation; format 2 files
    (pruned variants) decode their compressed tensors and masks, every declared size checked first.
    """

    priority = 100

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        obj = torch_load(path, trust=ctx.trust)
        if not isinstance(obj, dict) or obj.get("format") != NATIVE_FORMAT:
            return None
        version = obj.get("format_version")
        if not isinstance(version, int) or version > NATIVE_FORMAT_VERSION:
            raise UsageError(
                f"{path} is a gnneval checkpoint of format version {version!r}; this gnneval reads up to "
                f"{NATIVE_FORMAT_VERSION}: upgrade gnneval"
            )
        try:
            arch = obj["architecture"]
            name, kwargs = arch["name"], dict(arch.get("kwargs", {}))
            state = obj["state_dict"]
            if not isinstance(state, dict) or not isinstance(name, str):
                raise TypeError("'state_dict' is not a dict or the architecture has no name")
        except (KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"{path} is a damaged gnneval checkpoint: missing {exc}") from None
        state, masks = _decoded(obj, state, path, ctx.max_params)
        check_declared_sizes(kwargs, [tuple(t.shape) for t in state.values()], len(state), str(path))
        model = ctx.build_model(name, **kwargs)
        if isinstance(obj.get("pruning"), dict):
            fit_to_state(model, state)
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
            dataset = DatasetRef(
                name=ds["name"],
                loader=ds.get("loader"),
                split=ds.get("split", "public"),
                options=dict(ds.get("options") or {}),
                transform=str(ds.get("transform") or ""),
            )
        meta = {k: obj.get(k) for k in ("metrics", "training", "versions", "created", "pruning") if k in obj}
        notes = []
        if ctx.options.get("arch") and ctx.options["arch"] != name and ":" not in str(name):
            notes.append(
                f"--arch {ctx.options['arch']} ignored: this gnneval checkpoint names its architecture, {name}"
            )
        if isinstance(arch.get("class"), dict):
            meta["saved_model_class"] = dict(arch["class"])
        return LoadedCheckpoint(
            model=model,
            architecture=name,
            architecture_kwargs=kwargs,
            task=obj.get("task"),
            dataset=dataset,
            metadata=meta,
            masks=masks,
            recorded_scores=recorded_scores(obj.get("metrics")),
            notes=notes,
            source=f"gnneval checkpoint, format {version}",
        )


def _decoded(obj: dict, state: dict, path: Path, max_params: int) -> tuple[dict, dict]:
    """The state_dict and masks, every declared size checked against the stored arrays and the ceiling
    before any tensor is allocated."""

    try:
        check_total((declared_size(v) for v in state.values()), max_params, str(path))
        state = {k: decode_tensor(v) for k, v in state.items()}
        masks = {k: unpack_bits(v) for k, v in (obj.get("masks") or {}).items()}
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise UsageError(
            f"{path} is a damaged gnneval checkpoint: its compressed weights do not decode ({one_line(exc)[:200]})"
        ) from None
    return state, masks


LEGACY_SCORES = {
    "train_accuracy": "accuracy.train",
    "val_accuracy": "accuracy.val",
    "test_accuracy": "accuracy.test",
    "test_auc": "link-prediction.test_auc",
    "test_ap": "link-prediction.test_ap",
}
"""Format-1 files name scores by these keys; newer ones by metric key (``"accuracy.test"``)."""


def recorded_scores(metrics: object) -> dict[str, float]:
    """The scores a native checkpoint records, by metric key."""
    if not isinstance(metrics, dict):
        return {}
    out = {}
    for key, value in metrics.items():
        key = LEGACY_SCORES.get(str(key), str(key))
        if "." in key and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = float(value)
    return out


@hookimpl
def gnneval_register_checkpoint_loaders(register):
    register.add_checkpoint_loader(
        "native", NativeLoader, description="gnneval's own format: architecture as data, weights_only-safe"
    )
