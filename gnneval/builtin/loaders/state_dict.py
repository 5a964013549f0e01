"""Loader for bare ``state_dict`` files and training-framework checkpoints.

Recognises, after a weights-only load:

- a bare ``state_dict`` (a dict of tensors), as ``torch.save(model.state_dict())`` writes;
- a framework dict holding the weights under ``state_dict`` (PyTorch Lightning), ``model_state_dict``,
  ``model``, ``net`` or ``weights``, with hyper-parameters under ``hyper_parameters``, ``hparams``,
  ``config`` or ``args``, and optionally ``dataset`` / ``task`` / an accuracy.

The architecture comes from ``--arch NAME`` (with ``--arch-option key=value``), else from the
hyper-parameters, else it is inferred from the key names and tensor shapes of torch_geometric's
``GCN``, ``GraphSAGE``, ``GAT`` and ``GIN`` models and of hand-written two-layer GCNs
(``conv1.lin.weight``, ``conv1.bias``, ...).  Common traps are repaired and every repair is reported:
wrapper prefixes (``model.``, ``module.``, ``net.``), weights from older torch_geometric releases
(``conv1.weight`` stored in x out, no ``.lin.``), and GAT's ``lin_src``/``lin_dst`` where today's
torch_geometric has ``lin``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gnneval.load.checkpoint import FORMAT
from gnneval.plugin import (
    CheckpointLoader,
    DatasetRef,
    LoadContext,
    LoadedCheckpoint,
    UsageError,
    hookimpl,
    one_line,
    torch_load,
)

WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")
HPARAM_KEYS = ("hyper_parameters", "hparams", "config", "args")
PREFIXES = ("module.", "model.", "net.", "_orig_mod.")
ARCH_ALIASES = {"gcn": "gcn", "graphsage": "sage", "sage": "sage", "gat": "gat", "gin": "gin"}


def _is_state_dict(obj: Any) -> bool:
    import torch

    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def strip_prefixes(state: dict, notes: list[str]) -> dict:
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix):]: v for k, v in state.items()}
                notes.append(f"removed the wrapper prefix '{prefix}' from every key")
                changed = True
    return state


def modernise(state: dict, notes: list[str]) -> dict:
    """Rename hand-written ``conv1``/``conv2`` to ``convs.0``/``convs.1`` and repair old PyG layouts."""
    out = dict(state)
    hand = sorted({int(m.group(1)) for k in out if (m := re.match(r"conv(\d+)\.", k))})
    if hand and not any(k.startswith("convs.") for k in out):
        mapping = {i: n for n, i in enumerate(hand)}
        out = {re.sub(r"^conv(\d+)\.", lambda m: f"convs.{mapping[int(m.group(1))]}.", k): v for k, v in out.items()}
        notes.append("mapped " + ", ".join(f"conv{i}.* -> convs.{n}.*" for i, n in mapping.items()))
    for key in [k for k in out if re.match(r"^convs\.\d+\.weight$", k)]:  # old PyG: weight [in, out], no .lin.
        w = out.pop(key)
        out[key.replace(".weight", ".lin.weight")] = w.t().contiguous()
        notes.append(f"{key} [{w.shape[0]} x {w.shape[1]}] (older torch_geometric, in x out) -> "
                     f"{key.replace('.weight', '.lin.weight')} transposed")
    for key in [k for k in out if k.endswith(".lin_src.weight")]:
        base = key[: -len(".lin_src.weight")]
        src = out.pop(key)
        dst = out.pop(f"{base}.lin_dst.weight", None)
        if dst is not None and not bool((dst == src).all()):
            raise UsageError(f"{base} has different lin_src and lin_dst weights (a bipartite GAT); "
                             "today's torch_geometric GAT with one 'lin' cannot hold them")
        out[f"{base}.lin.weight"] = src
        notes.append(f"{base}.lin_src/lin_dst.weight -> {base}.lin.weight (shared, as in today's torch_geometric)")
    return out


def infer_architecture(state: dict) -> tuple[str, dict[str, Any]]:
    """Guess a registered architecture and its arguments from key names and shapes."""
    convs = sorted({int(m.group(1)) for k in state if (m := re.match(r"^convs\.(\d+)\.", k))})
    if not convs or convs != list(range(len(convs))):
        raise UsageError("cannot infer the architecture from the keys (no convs.0, convs.1, ...); "
                         "pass --arch gcn|sage|gat|gin and --arch-option in_channels=... etc.")
    first, last = f"convs.{convs[0]}", f"convs.{convs[-1]}"
    kwargs: dict[str, Any] = {"num_layers": len(convs)}
    if f"{first}.lin_l.weight" in state:
        arch = "sage"
        w0, wl = state[f"{first}.lin_l.weight"], state[f"{last}.lin_l.weight"]
        kwargs.update(in_channels=w0.shape[1], hidden_channels=w0.shape[0], out_channels=wl.shape[0])
    elif f"{first}.att_src" in state:
        arch = "gat"
        heads = int(state[f"{first}.att_src"].shape[1])
        w0, wl = state[f"{first}.lin.weight"], state[f"{last}.lin.weight"]
        out_heads = int(state[f"{last}.att_src"].shape[1])
        kwargs.update(in_channels=w0.shape[1], hidden_channels=w0.shape[0], heads=heads,
                      out_channels=wl.shape[0] // out_heads if out_heads > 1 else wl.shape[0])
    elif any(k.startswith(f"{first}.nn.") for k in state):
        arch = "gin"
        lins = sorted(k for k in state if re.match(rf"^{first}\.nn\.lins\.\d+\.weight$", k))
        lasts = sorted(k for k in state if re.match(rf"^{last}\.nn\.lins\.\d+\.weight$", k))
        if not lins or not lasts:
            raise UsageError("a GIN state_dict whose MLP keys are not torch_geometric's (nn.lins.N); pass --arch")
        kwargs.update(in_channels=state[lins[0]].shape[1], hidden_channels=state[lins[0]].shape[0],
                      out_channels=state[lasts[-1]].shape[0])
    elif f"{first}.lin.weight" in state:
        arch = "gcn"
        w0, wl = state[f"{first}.lin.weight"], state[f"{last}.lin.weight"]
        kwargs.update(in_channels=w0.shape[1], hidden_channels=w0.shape[0], out_channels=wl.shape[0])
    else:
        raise UsageError("cannot infer the architecture from the keys; pass --arch gcn|sage|gat|gin")
    if any(k.startswith("norms.") and k.endswith("running_mean") for k in state):
        kwargs["norm"] = "batch_norm"
    return arch, {k: int(v) if hasattr(v, "__int__") and not isinstance(v, str) else v for k, v in kwargs.items()}


def _find_accuracy(meta: dict) -> float | None:
    for key in ("test_accuracy", "test_acc", "accuracy", "acc"):
        for src in (meta, meta.get("metrics") or {}):
            val = src.get(key) if isinstance(src, dict) else None
            if isinstance(val, (int, float)) and 0 <= float(val) <= 1:
                return float(val)
    return None


def build_from_state(state: dict, ctx: LoadContext, path: Path, *, arch: str | None = None,
                     kwargs: dict | None = None, source: str = "", fallback_kwargs: dict | None = None):
    """Repair ``state`` (prefixes, old layouts), settle the architecture — ``--arch``/``--arch-option``,
    else the ``arch``/``kwargs`` the file declares (``source`` says where), else inferred from the keys —
    and build the model with the weights loaded.

    :returns: the model and how it was settled, with the repairs.
    """
    notes: list[str] = []
    state = modernise(strip_prefixes(dict(state), notes), notes)
    arch = ctx.options.get("arch") or arch
    kwargs = dict(ctx.options.get("arch_kwargs") or kwargs or {})
    if arch:
        arch = ARCH_ALIASES.get(str(arch).lower(), str(arch).lower())
        if not kwargs:
            try:
                kwargs = infer_architecture(state)[1]
            except UsageError:
                if not fallback_kwargs:
                    raise
                kwargs = dict(fallback_kwargs)
        how = "given" if ctx.options.get("arch") else f"from {source}"
    else:
        arch, kwargs = infer_architecture(state)
        how = "inferred from key names and shapes"
    try:
        model = ctx.build_model(arch, **kwargs)
        model.load_state_dict(state, strict=True)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - say what did not fit
        raise UsageError(f"{path}: the weights do not fit architecture '{arch}' with {kwargs}: "
                         f"{one_line(exc)[:300]}; pass --arch and --arch-option to say what it is") from None
    return Built(model.eval(), arch, kwargs, [f"architecture: {arch} {kwargs} ({how})", *notes])


@dataclass
class Built:
    """A model built from a state_dict, and the decisions taken to build it (one line each)."""

    model: Any
    arch: str
    kwargs: dict[str, Any]
    notes: list[str]

    def checkpoint(self, *, task: Any, dataset: DatasetRef | None, metadata: dict[str, Any], source: str,
                   scores: float | None) -> LoadedCheckpoint:
        return LoadedCheckpoint(model=self.model, architecture=self.arch, architecture_kwargs=self.kwargs,
                                task=str(task) if task else None, dataset=dataset, metadata=metadata,
                                recorded_scores={} if scores is None else {"accuracy.test": scores},
                                notes=self.notes, source=source)


class StateDictLoader(CheckpointLoader):
    priority = 50

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        obj = torch_load(path, trust=ctx.trust)
        meta: dict[str, Any] = {}
        if isinstance(obj, dict) and obj.get("format") == FORMAT:
            return None  # the native loader's
        if _is_state_dict(obj):
            state, kind = obj, "bare state_dict"
        elif isinstance(obj, dict) and any(_is_state_dict(obj.get(k)) for k in WEIGHT_KEYS):
            key = next(k for k in WEIGHT_KEYS if _is_state_dict(obj.get(k)))
            state, kind = obj[key], f"training checkpoint (weights under '{key}')"
            meta = {k: v for k, v in obj.items() if k != key and not _is_state_dict(v)}
        else:
            return None
        hparams = next((meta[k] for k in HPARAM_KEYS if isinstance(meta.get(k), dict)), {})
        built = build_from_state(
            state, ctx, path, arch=hparams.get("arch") or hparams.get("architecture"),
            source="the checkpoint's hyper-parameters",
            fallback_kwargs={k: v for k, v in hparams.items()
                             if k in ("in_channels", "hidden_channels", "out_channels", "num_layers", "heads")})
        ds = meta.get("dataset") or hparams.get("dataset")
        dataset = DatasetRef(name=str(ds)) if isinstance(ds, str) else None
        task = meta.get("task") or hparams.get("task")
        return built.checkpoint(task=task, dataset=dataset, metadata=_plain_meta(meta), source=kind,
                                scores=_find_accuracy(meta))


def _sidecar(path: Path) -> dict:
    for cand in (path.with_suffix(path.suffix + ".json"), path.with_suffix(".json"), path.parent / "config.json"):
        if cand.is_file():
            try:
                data = json.loads(cand.read_text())
            except json.JSONDecodeError as exc:
                raise UsageError(f"sidecar {cand} is not valid JSON: {exc}") from None
            if isinstance(data, dict):
                return data
    return {}


class SafetensorsLoader(CheckpointLoader):
    priority = 60  # before the state-dict loader, so that a sidecar JSON is read

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        with open(path, "rb") as f:
            head = f.read(9)
        if len(head) < 9 or head[8:9] != b"{":  # 8-byte header length, then a JSON header
            return None
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise UsageError(f"{path} looks like safetensors but does not load: {one_line(exc)[:200]}") from None
        side = _sidecar(path)
        built = build_from_state(state, ctx, path, arch=side.get("arch") or side.get("architecture"),
                                 kwargs=side.get("kwargs"), source="the sidecar JSON")
        dataset = DatasetRef(str(side["dataset"])) if side.get("dataset") else None
        meta = {"sidecar": side} if side else {}
        return built.checkpoint(task=side.get("task"), dataset=dataset, metadata=meta, source="safetensors",
                                scores=_find_accuracy(side))


def _plain_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's other entries that are plain data (numbers, strings, small lists and dicts)."""
    return {str(k): v for k, v in meta.items() if isinstance(v, (int, float, str, bool, list, dict)) or v is None}


@hookimpl
def gnneval_register_checkpoint_loaders(register):
    register.add_checkpoint_loader("state-dict", StateDictLoader,
                                   description="bare state_dicts and training-framework checkpoints "
                                               "(architecture given, from hyper-parameters, or inferred)")
    register.add_checkpoint_loader("safetensors", SafetensorsLoader,
                                   description="safetensors weights (+ optional sidecar JSON with arch/kwargs)")
