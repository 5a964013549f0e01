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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gnneval.plugin import CheckpointLoader, DatasetRef, LoadContext, LoadedCheckpoint, UsageError, hookimpl
from gnneval.plugin.helpers import NATIVE_FORMAT, check_declared_sizes, check_total, one_line, torch_load

from .dgl_layouts import from_dgl

WEIGHT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")
HPARAM_KEYS = ("hyper_parameters", "hparams", "config", "args")
PREFIXES = ("module.", "model.", "net.", "_orig_mod.")
ARCH_ALIASES = {"gcn": "gcn", "graphsage": "sage", "sage": "sage", "gat": "gat", "gin": "gin"}


def _is_state_dict(obj: Any) -> bool:
    import torch

    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def strip_prefixes(state: dict, notes: list[str]) -> dict:
    """Remove wrappers' prefixes: the usual ones (``module.`` of DataParallel, ``model.``, ...) and any other
    module every key sits in (``encoder.``, ``conv.``) when it is a container, not itself a layer."""
    changed = True
    while changed:
        changed = False
        for prefix in PREFIXES:
            if all(k.startswith(prefix) for k in state):
                state = {k[len(prefix) :]: v for k, v in state.items()}
                notes.append(f"removed the wrapper prefix '{prefix}' from every key")
                changed = True
        first = {k.split(".", 1)[0] for k in state}
        if len(first) == 1 and all(k.count(".") >= 2 for k in state):  # never down to bare weight names
            (top,) = first
            lists = any(k.split(".")[1].isdigit() for k in state)  # convs.0, layers.1: the model's own lists
            if not top.isdigit() and not lists and _conv_kind(state, top) is None:
                state = {k.split(".", 1)[1]: v for k, v in state.items()}
                notes.append(f"removed the wrapper prefix '{top}.' from every key (every tensor sits in it)")
                changed = True
    return state


def modernise(state: dict, notes: list[str], rename: bool = True) -> dict:
    """Rename hand-written ``conv1``/``conv2`` to ``convs.0``/``convs.1`` (``rename``) and repair old PyG
    layouts (a conv's ``weight`` stored in x out without ``.lin.``; GAT's ``lin_src``/``lin_dst``)."""
    out = dict(state)
    hand = sorted({int(m.group(1)) for k in out if (m := re.match(r"conv(\d+)\.", k))})
    if rename and hand and not any(k.startswith("convs.") for k in out):
        mapping = {i: n for n, i in enumerate(hand)}
        out = {re.sub(r"^conv(\d+)\.", lambda m: f"convs.{mapping[int(m.group(1))]}.", k): v for k, v in out.items()}
        notes.append("mapped " + ", ".join(f"conv{i}.* -> convs.{n}.*" for i, n in mapping.items()))
    for key in [k for k in out if re.match(r"^(convs\.\d+|conv\d+)\.weight$", k)]:  # old PyG: [in, out], no .lin.
        w = out.pop(key)
        out[key.replace(".weight", ".lin.weight")] = w.t().contiguous()
        notes.append(
            f"{key} [{w.shape[0]} x {w.shape[1]}] (older torch_geometric, in x out) -> "
            f"{key.replace('.weight', '.lin.weight')} transposed"
        )
    for key in [k for k in out if k.endswith(".lin_src.weight")]:
        base = key[: -len(".lin_src.weight")]
        src = out.pop(key)
        dst = out.pop(f"{base}.lin_dst.weight", None)
        if dst is not None and not bool((dst == src).all()):
            raise UsageError(
                f"{base} has different lin_src and lin_dst weights (a bipartite GAT); "
                "today's torch_geometric GAT with one 'lin' cannot hold them"
            )
        out[f"{base}.lin.weight"] = src
        notes.append(f"{base}.lin_src/lin_dst.weight -> {base}.lin.weight (shared, as in today's torch_geometric)")
    return out


def infer_architecture(state: dict) -> tuple[str, dict[str, Any]]:
    """Guess a registered architecture and its arguments from key names and shapes."""
    convs = sorted({int(m.group(1)) for k in state if (m := re.match(r"^convs\.(\d+)\.", k))})
    if not convs or convs != list(range(len(convs))):
        raise UsageError(f"cannot infer the architecture: {describe_layout(state)}; pass the model's own class with "
                         "--arch models.py:Class (or --arch gcn|sage|gat|gin with --arch-option in_channels=...)")  # fmt: skip
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
        kwargs.update(
            in_channels=w0.shape[1],
            hidden_channels=w0.shape[0],
            heads=heads,
            out_channels=wl.shape[0] // out_heads if out_heads > 1 else wl.shape[0],
        )
    elif any(k.startswith(f"{first}.nn.") for k in state):
        arch = "gin"
        lins = sorted(k for k in state if re.match(rf"^{first}\.nn\.lins\.\d+\.weight$", k))
        lasts = sorted(k for k in state if re.match(rf"^{last}\.nn\.lins\.\d+\.weight$", k))
        if not lins or not lasts:
            raise UsageError("a GIN state_dict whose MLP keys are not torch_geometric's (nn.lins.N); pass --arch")
        kwargs.update(
            in_channels=state[lins[0]].shape[1],
            hidden_channels=state[lins[0]].shape[0],
            out_channels=state[lasts[-1]].shape[0],
        )
    elif f"{first}.lin.weight" in state:
        arch = "gcn"
        w0, wl = state[f"{first}.lin.weight"], state[f"{last}.lin.weight"]
        kwargs.update(in_channels=w0.shape[1], hidden_channels=w0.shape[0], out_channels=wl.shape[0])
    else:
        raise UsageError("cannot infer the architecture from the keys; pass --arch gcn|sage|gat|gin")
    if any(k.startswith("norms.") and k.endswith("running_mean") for k in state):
        kwargs["norm"] = "batch_norm"
    return arch, {k: int(v) if hasattr(v, "__int__") and not isinstance(v, str) else v for k, v in kwargs.items()}


def describe_layout(state: dict) -> str:
    """What the tensors show, for a layout no inference reads: embedding tables of categorical node or edge types
    (a molecular encoder reads atom and bond types, not feature vectors), else the top-level modules."""
    tables = [k[: -len(".weight")] for k, v in state.items() if k.endswith(".weight") and "embedding" in k.lower()
              and v.dim() == 2]  # fmt: skip
    if tables:
        node = [t for t in tables if "edge" not in t.lower() and "bond" not in t.lower()]
        edge = [t for t in tables if t not in node]
        said = ", ".join(
            f"{t} [{state[t + '.weight'].shape[0]} x {state[t + '.weight'].shape[1]}]" for t in (node + edge)[:3]
        )
        return (f"it holds embedding tables ({said}{', ...' if len(tables) > 3 else ''}): the model reads categorical "
                f"node{' and edge' if edge else ''} types (atom and bond types, as pre-trained molecular encoders do), "
                "not feature vectors, and no torch_geometric model here has that layout")  # fmt: skip
    tops = list(dict.fromkeys(k.split(".")[0] for k in state))
    return f"no message-passing layers gnneval knows among its modules ({', '.join(tops[:8])}{', ...' if len(tops) > 8 else ''})"


def _natural(path: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def _conv_kind(state: dict, path: str) -> str | None:
    if f"{path}.att_src" in state:
        return "gat"
    if f"{path}.lin_l.weight" in state:
        return "sage"
    if f"{path}.lin_rel.weight" in state:
        return "graphconv"
    if any(re.match(rf"^{re.escape(path)}\.nn\.\d+\.weight$", k) for k in state):
        return "gin"
    if f"{path}.lin.weight" in state and state[f"{path}.lin.weight"].dim() == 2:
        return "gcn"
    return None


def _conv_paths(state: dict) -> list[str]:
    """Module paths of the message-passing layers, in natural order (conv1 < conv2 < conv10)."""
    candidates = set()
    for key in state:
        parts = key.split(".")
        for cut in range(1, len(parts)):
            candidates.add(".".join(parts[:cut]))
    convs = [c for c in candidates if _conv_kind(state, c)]
    convs = [c for c in convs if not any(c != o and c.startswith(o + ".") for o in convs)]  # outermost only
    return sorted(convs, key=_natural)


def _gin_mlp(state: dict, path: str, notes: list[str]) -> list[list]:
    idx = sorted({int(m.group(1)) for k in state if (m := re.match(rf"^{re.escape(path)}\.nn\.(\d+)\.", k))})
    mlp: list[list] = []
    for i in range(idx[-1] + 1):
        base = f"{path}.nn.{i}"
        w = state.get(f"{base}.weight")
        if f"{base}.running_mean" in state:
            mlp.append(["batchnorm", int(state[f"{base}.running_mean"].shape[0])])
        elif w is not None and w.dim() == 2:
            mlp.append(["linear", int(w.shape[1]), int(w.shape[0]), f"{base}.bias" in state])
        else:
            mlp.append(["relu"])
    if any(item[0] == "relu" for item in mlp):
        notes.append(f"{path}: modules of its MLP that hold no tensors taken as ReLU")
    return mlp


def _layer_spec(state: dict, path: str, notes: list[str]) -> dict[str, Any]:
    kind = _conv_kind(state, path)
    spec: dict[str, Any] = {"name": path, "type": kind}
    if kind == "gat":
        heads, ch = (int(d) for d in state[f"{path}.att_src"].shape[1:3])
        w = state[f"{path}.lin.weight"]
        bias = state.get(f"{path}.bias")
        concat = heads > 1 and (bias is None or int(bias.shape[0]) == heads * ch)
        spec.update({"in": int(w.shape[1]), "out": ch, "heads": heads, "concat": concat, "bias": bias is not None})
        how = "one head" if heads == 1 else ("heads concatenated" if concat else "heads averaged")
        notes.append(f"{path}: GAT, {heads} head(s) x {ch} channels, {how} (from att_src and the bias)")
    elif kind == "gin":
        spec["mlp"] = _gin_mlp(state, path, notes)
        lins = [m for m in spec["mlp"] if m[0] == "linear"]
        spec.update({"in": lins[0][1], "out": lins[-1][2], "train_eps": f"{path}.eps" in state})
    else:
        lin = {"gcn": "lin", "sage": "lin_l", "graphconv": "lin_rel"}[kind]
        w = state[f"{path}.{lin}.weight"]
        has_bias = f"{path}.bias" in state or f"{path}.lin_l.bias" in state or f"{path}.lin_rel.bias" in state
        spec.update({"in": int(w.shape[1]), "out": int(w.shape[0]), "bias": has_bias})
    return spec


def _width(spec: dict[str, Any]) -> int:
    if spec["type"] == "gat" and spec["concat"]:
        return spec["out"] * spec["heads"]
    return int(spec["out"])


def infer_layer_stack(state: dict, notes: list[str], force: bool = False) -> tuple[str, dict[str, Any]] | None:
    """A ``layer-stack`` description when the layout is one no ready-made model has: GAT layers with
    different head counts, message-passing layers followed by a linear head (``lin``, ``lin1..k``,
    ``mlps.k``), or GIN MLPs as ``nn.<i>`` (bias-free linears, BatchNorm).  None when it is not such a
    layout, or when some tensor would be left unexplained."""
    convs = _conv_paths(state)
    if not convs:
        return None
    kinds = [_conv_kind(state, c) for c in convs]
    if any(re.match(rf"^{re.escape(c)}\.nn\.lins\.", k) for c in convs for k in state):
        return None  # torch_geometric's own GIN: the GIN model fits
    explained = {k for k in state for c in convs if k.startswith(c + ".")}
    rest = sorted({k.rsplit(".", 1)[0] for k in state if k not in explained}, key=_natural)
    heads_differ = (
        "gat" in kinds
        and len({int(state[f"{c}.att_src"].shape[1]) for c in convs if _conv_kind(state, c) == "gat"}) > 1
    )
    gin_plain = "gin" in kinds
    if not (rest or heads_differ or gin_plain or force):  # force: DGL layers, built as described
        return None
    if any(set(k.rsplit(".", 1)[1] for k in state if k.rsplit(".", 1)[0] == r) - {"weight", "bias"} for r in rest):
        return None  # norms or other modules between layers: not a layer stack
    head = []
    for r in rest:
        w = state[f"{r}.weight"]
        if w.dim() != 2:
            return None
        head.append({"name": r, "in": int(w.shape[1]), "out": int(w.shape[0]), "bias": f"{r}.bias" in state})
    layers = [_layer_spec(state, c, notes) for c in convs]
    for i in range(1, len(layers)):
        if _width(layers[i - 1]) != layers[i]["in"]:
            raise _unseen_readout(layers[i]["name"], layers[i]["in"], layers[i - 1]["name"], _width(layers[i - 1]))
    if head and head[0]["in"] != _width(layers[-1]):
        raise _unseen_readout(head[0]["name"], head[0]["in"], layers[-1]["name"], _width(layers[-1]), readout=True)
    if any(head[i]["out"] != head[i + 1]["in"] for i in range(len(head) - 1)):
        return None
    act = "elu" if "gat" in kinds else "relu"
    kwargs: dict[str, Any] = {"layers": layers, "head": head, "act": act}
    described = " -> ".join("{} ({})".format(spec["name"], spec["type"]) for spec in layers)
    notes.append(f"layers: {described}" + (f"; head: {' -> '.join(h['name'] for h in head)}" if head else ""))
    notes.append(
        f"activation between layers: {act} first guessed"
        + (" (Velickovic et al.'s GAT)" if act == "elu" else "")
        + "; --arch-option act=relu|elu|identity sets it"
    )
    if head:
        kwargs["pool"] = "mean"
        kwargs["act_last"] = False
        notes.append(
            "graph-level readout: mean pooling, no activation after the last message-passing layer, first "
            "guessed (the tensors cannot show them); --arch-option pool=add|mean|max act_last=true|false sets them"
        )
    return "layer-stack", kwargs


def _unseen_readout(name: str, wants: int, after: str, gives: int, readout: bool = False) -> UsageError:
    """The real reason a layout cannot be inferred: something between two layers that holds no tensors."""
    what = ("a readout that combines the layers' outputs (concatenated layers, jumping knowledge, several "
            "poolings)" if readout else "a concatenation or skip connection between them")  # fmt: skip
    ratio = f" ({wants // gives} x {gives})" if gives and wants % gives == 0 and wants != gives else ""
    return UsageError(f"'{name}' takes {wants} inputs{ratio} but '{after}' gives {gives}: {what}, which the tensors "
                      "cannot show; pass the model's own class with --arch models.py:Class (and --code for the "
                      "folder it imports from)")  # fmt: skip


def undecided_choices(arch: str, kwargs: dict[str, Any], given: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """What the tensors of an inferred ``arch`` cannot decide, each argument's candidates with the first guess
    first (``LoadedCheckpoint.undecided``); the arguments the user ``given`` are decided."""
    acts: tuple[Any, ...]
    if arch == "layer-stack":
        first = kwargs.get("act", "relu")
        acts = (first, *(a for a in ("relu", "elu", "identity") if a != first))
        out: dict[str, tuple[Any, ...]] = {"act": acts}
        if kwargs.get("head"):
            out.update(act_last=(False, True), pool=("mean", "add", "max"))
        if kwargs.get("self_loops") is not None:  # DGL's layers: the graph may or may not have had them
            out["self_loops"] = (kwargs["self_loops"], not kwargs["self_loops"])
    elif arch in ("gcn", "sage", "gat", "gin"):  # torch_geometric's BasicGNN: ReLU by default, None = identity
        out = {"act": ("relu", "elu", None)}
    else:
        return {}
    return {k: v for k, v in out.items() if k not in given}


def _find_accuracy(meta: dict) -> float | None:
    for key in ("test_accuracy", "test_acc", "accuracy", "acc"):
        for src in (meta, meta.get("metrics") or {}):
            val = src.get(key) if isinstance(src, dict) else None
            if isinstance(val, (int, float)) and 0 <= float(val) <= 1:
                return float(val)
    return None


def build_from_state(
    state: dict,
    ctx: LoadContext,
    path: Path,
    *,
    arch: str | None = None,
    kwargs: dict | None = None,
    source: str = "",
    fallback_kwargs: dict | None = None,
) -> Built:
    """Repair ``state`` (prefixes, old layouts), settle the architecture — ``--arch``/``--arch-option``
    (a registered name, or the user's own class as ``file.py:Class``), else the ``arch``/``kwargs`` the file
    declares (``source`` says where), else inferred from the tensors — and build the model with the weights
    loaded.  Every decision is a note (printed, and stored with the run)."""
    notes: list[str] = []
    check_total((t.numel() for t in state.values()), ctx.max_params, str(path))
    state = strip_prefixes(dict(state), notes)
    user_arch = ctx.options.get("arch")
    user_kwargs = dict(ctx.options.get("arch_kwargs") or {})
    if user_arch and ":" in str(user_arch):
        return _build_user_class(state, ctx, path, str(user_arch), user_kwargs, notes)
    arch = user_arch or arch
    undecided: dict[str, tuple[Any, ...]] = {}
    if arch:
        state = modernise(state, notes)
        arch = ARCH_ALIASES.get(str(arch).lower(), str(arch).lower())
        kwargs = dict(user_kwargs or kwargs or {})
        if not kwargs:
            try:
                kwargs = infer_architecture(state)[1]
            except UsageError:
                if not fallback_kwargs:
                    raise
                kwargs = dict(fallback_kwargs)
        how = "given" if user_arch else f"from {source}"
    else:
        state, from_dgl_layers = from_dgl(state, notes)
        state = modernise(state, notes, rename=False)  # old layouts (GAT's lin_src/lin_dst) before reading them
        stack = infer_layer_stack(state, notes, force=from_dgl_layers)
        if stack is None:
            state = modernise(state, notes)
        try:
            arch, kwargs = stack or infer_architecture(state)
        except UsageError as exc:
            raise UsageError(f"{path}: {exc}") from None
        how = "inferred from the tensors' names and shapes"
        if from_dgl_layers and arch == "layer-stack":
            kwargs["self_loops"] = True
        undecided = undecided_choices(arch, kwargs, user_kwargs)
        if user_kwargs:
            kwargs = {**kwargs, **user_kwargs}
            notes.append(f"--arch-option {user_kwargs} applied over the inferred arguments")
    check_declared_sizes(kwargs, [tuple(t.shape) for t in state.values()], len(state), str(path))
    model = _load_into(ctx.build_model(arch, **kwargs), state, path, f"architecture '{arch}' with {kwargs}")
    notes = [f"architecture: {arch} {_short(kwargs)} ({how})", *notes]
    return Built(model.eval(), arch, kwargs, notes, undecided)


def _short(kwargs: dict[str, Any]) -> str:
    text = str(kwargs)
    return text if len(text) <= 160 else text[:157] + "..."


def _load_into(model: Any, state: dict, path: Path, what: str) -> Any:
    """``load_state_dict(strict=True)``; a mismatch is one line naming the missing and unexpected keys."""
    own = set(model.state_dict())
    missing, unexpected = sorted(own - set(state)), sorted(set(state) - own)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing key(s) {', '.join(missing[:6])}" + (" ..." if len(missing) > 6 else ""))
        if unexpected:
            parts.append(f"unexpected key(s) {', '.join(unexpected[:6])}" + (" ..." if len(unexpected) > 6 else ""))
        raise UsageError(
            f"{path}: the weights do not fit {what}: {'; '.join(parts)}; say what the model is with "
            "--arch (a registered name, or your own class as models.py:Class) and --arch-option"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UsageError(
            f"{path}: the weights do not fit {what}: {one_line(exc)[:300]}; pass --arch and "
            "--arch-option to say what it is"
        ) from None
    return model


def _build_user_class(
    state: dict, ctx: LoadContext, path: Path, spec: str, kwargs: dict[str, Any], notes: list[str]
) -> Built:
    """The user's own class: build it, then load the state under the key names that match it best (as
    stored, or with old layouts repaired)."""
    model = ctx.build_model(spec, **kwargs)
    own = set(model.state_dict())
    best = max((state, modernise(state, [], rename=False), modernise(state, [])), key=lambda cand: len(own & set(cand)))
    if best is not state:
        state = modernise(
            state,
            notes,
            rename=any(k.startswith("convs.") for k in best) and not any(k.startswith("convs.") for k in state),
        )
    model = _load_into(model, state, path, f"{spec} built with {kwargs}")
    return Built(model.eval(), spec, kwargs, [f"architecture: {spec} {kwargs} (your class, --arch)", *notes])


@dataclass
class Built:
    """A model built from a state_dict, and the decisions taken to build it (one line each)."""

    model: Any
    arch: str
    kwargs: dict[str, Any]
    notes: list[str]
    undecided: dict[str, tuple[Any, ...]] = field(default_factory=dict)  #: see ``LoadedCheckpoint.undecided``

    def checkpoint(
        self,
        *,
        task: Any,
        dataset: DatasetRef | None,
        metadata: dict[str, Any],
        source: str,
        scores: float | None,
        split: dict[str, Any] | None = None,
    ) -> LoadedCheckpoint:
        return LoadedCheckpoint(
            model=self.model,
            architecture=self.arch,
            architecture_kwargs=self.kwargs,
            task=str(task) if task else None,
            dataset=dataset,
            metadata=metadata,
            recorded_scores={} if scores is None else {"accuracy.test": scores},
            notes=self.notes,
            source=source,
            undecided=dict(self.undecided),
            split=dict(split or {}),
        )


class StateDictLoader(CheckpointLoader):
    """Reads bare state_dicts and training-framework checkpoints (a state_dict inside a dict, Lightning-style
    prefixes): the architecture comes from ``--arch``, from hyper-parameters stored beside the weights, or is
    inferred from the tensors' names and shapes, every inferred decision printed and stored.
    """

    priority = 50

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        obj = torch_load(path, trust=ctx.trust)
        meta: dict[str, Any] = {}
        if isinstance(obj, dict) and obj.get("format") == NATIVE_FORMAT:
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
            state,
            ctx,
            path,
            arch=hparams.get("arch") or hparams.get("architecture"),
            source="the checkpoint's hyper-parameters",
            fallback_kwargs={
                k: v
                for k, v in hparams.items()
                if k in ("in_channels", "hidden_channels", "out_channels", "num_layers", "heads")
            },
        )
        ds = meta.get("dataset") or hparams.get("dataset")
        dataset = DatasetRef(name=str(ds)) if isinstance(ds, str) else None
        task = meta.get("task") or hparams.get("task")
        return built.checkpoint(task=task, dataset=dataset, metadata=_plain_meta(meta), source=kind,
                                scores=_find_accuracy(meta), split=stored_split(meta))  # fmt: skip


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


_SAFETENSORS_MAX_HEADER = 100_000_000  # the format's own cap on its JSON header


def _safetensors_head(head: bytes) -> bool:
    """Whether a file's first 9 bytes open a safetensors file: an 8-byte little-endian header length within the
    format's cap, then the JSON header's ``{`` (so that random bytes are not taken for a damaged one).
    """
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= _SAFETENSORS_MAX_HEADER


class SafetensorsLoader(CheckpointLoader):
    """Reads ``.safetensors`` weights (never code), with an optional sidecar JSON naming the architecture and
    its keyword arguments; otherwise the architecture is inferred as for a bare state_dict.
    """

    priority = 60  # before the state-dict loader, so that a sidecar JSON is read

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        with open(path, "rb") as f:
            head = f.read(9)
        if not _safetensors_head(head):
            return None
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            why = "its JSON header does not parse" if "header" in str(exc) else f"{type(exc).__name__}"
            raise UsageError(f"{path} looks like safetensors but does not load ({why}): damaged or truncated") from None
        side = _sidecar(path)
        built = build_from_state(
            state,
            ctx,
            path,
            arch=side.get("arch") or side.get("architecture"),
            kwargs=side.get("kwargs"),
            source="the sidecar JSON",
        )
        dataset = DatasetRef(str(side["dataset"])) if side.get("dataset") else None
        meta = {"sidecar": side} if side else {}
        return built.checkpoint(
            task=side.get("task"), dataset=dataset, metadata=meta, source="safetensors", scores=_find_accuracy(side)
        )


SPLIT_KEYS = {
    "train": ("train_mask", "idx_train", "train_idx", "train_index"),
    "val": ("val_mask", "idx_val", "val_idx", "valid_idx", "val_index"),
    "test": ("test_mask", "idx_test", "test_idx", "test_index"),
}
"""How training scripts store their split beside the weights (masks, or the index arrays of Kipf's GCN code and
OGB's ``get_idx_split``), at the top level or under ``split`` / ``splits``."""


def stored_split(meta: dict[str, Any]) -> dict[str, Any]:
    """The train/val/test items a training dict records, if it records all three (else ``{}``)."""
    for where, d in (("split", meta.get("split")), ("splits", meta.get("splits")), ("", meta)):
        if not isinstance(d, dict):
            continue
        names = {s: ((s, *keys) if where else keys) for s, keys in SPLIT_KEYS.items()}
        found = {s: next((d[k] for k in keys if k in d), None) for s, keys in names.items()}
        if all(v is not None for v in found.values()):
            return found
    return {}


def _plain_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's other entries that are plain data (numbers, strings, small lists and dicts)."""
    return {str(k): v for k, v in meta.items() if isinstance(v, (int, float, str, bool, list, dict)) or v is None}


@hookimpl
def gnneval_register_checkpoint_loaders(register):
    register.add_checkpoint_loader(
        "state-dict",
        StateDictLoader,
        description="bare state_dicts and training-framework checkpoints "
        "(architecture given, from hyper-parameters, or inferred)",
    )
    register.add_checkpoint_loader(
        "safetensors", SafetensorsLoader, description="safetensors weights (+ optional sidecar JSON with arch/kwargs)"
    )
