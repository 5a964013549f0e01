"""Settling what a checkpoint's tensors cannot decide.  A state_dict holds weights, not the functions between
them: whether an activation follows each layer (and which), and how a graph classifier pools its nodes.  The
loader builds its first guess and lists the alternatives (``LoadedCheckpoint.undecided``); here every
combination is built with the same weights and scored on the **training and validation** items (never the
test items), and the first guess is kept unless another is clearly better: by more than
:data:`SWITCH_GAP` of accuracy and :data:`SWITCH_Z` standard errors.  The choice, every candidate's score
and the option that fixes it are printed and stored with the run (the loader's notes and
``checkpoint_metadata["assumptions"]``)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gnneval.core.problems import report

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.contract import GraphData
    from gnneval.core.registry import Registry
    from gnneval.load.inputs import Loaded

SWITCH_GAP = 0.02
"""Another combination replaces the loader's first guess only when its accuracy on the training and validation
items is this much (2 points) higher ..."""
SWITCH_Z = 2.0
"""... and this many standard errors of the difference higher."""
MAX_COMBINATIONS = 64


def settle_assumptions(loaded: Loaded, registry: Registry, console: Any = None) -> Loaded:
    """``loaded`` with its model rebuilt from the best combination of the undecided arguments (see the module);
    ``loaded`` itself when nothing was undecided or nothing can score the choice."""
    ckpt = loaded.ckpt
    if not ckpt.undecided:
        return loaded
    undecided = {k: v for k, v in ckpt.undecided.items() if k != "pool" or loaded.graph.task == "graph-classification"}
    if not undecided:
        return replace(loaded, ckpt=replace(ckpt, undecided={}))
    keys = list(undecided)
    combos = [dict(zip(keys, values)) for values in itertools.product(*undecided.values())][:MAX_COMBINATIONS]
    items = _scoring_items(loaded.graph)
    if items is None:
        return _say(loaded, console, f"undecided by the tensors: {_names(keys)}; kept the loader's first guess "
                    f"({_fmt(combos[0])}): no labelled training or validation items to compare the choices on")  # fmt: skip
    scores = [_score(registry, loaded, combo, items) for combo in combos]
    best = max(range(len(combos)), key=lambda i: (scores[i] if scores[i] is not None else -1.0, -i))
    first = scores[0]
    chosen = best if first is None or _clearly_better(scores[best], first, int(items.sum())) else 0
    tried = "; ".join(f"{_fmt(c)}: {'failed' if s is None else f'{s:.1%}'}" for c, s in zip(combos, scores))
    line = (f"undecided by the tensors: {_names(keys)}; tried {len(combos)} combinations with the same weights on "
            f"the {int(items.sum()):,} training and validation items ({tried}); chose {_fmt(combos[chosen])} "
            + ("(the first guess, no other clearly better)" if chosen == 0 else "(clearly better than the first "
               f"guess {_fmt(combos[0])})") + f"; --arch-option {' '.join(f'{k}=...' for k in keys)} fixes it")  # fmt: skip
    loaded = _say(loaded, console, line)
    record = {"undecided": {k: [str(v) for v in vs] for k, vs in undecided.items()},
              "scores": [{**{k: str(v) for k, v in c.items()}, "train_val_score": s} for c, s in zip(combos, scores)],
              "chosen": {k: str(v) for k, v in combos[chosen].items()}}  # fmt: skip
    new = replace(loaded.ckpt, metadata={**loaded.ckpt.metadata, "assumptions": record}, undecided={})
    if chosen:
        kwargs = {**ckpt.architecture_kwargs, **combos[chosen]}
        new = replace(new, model=_built(registry, ckpt, kwargs), architecture_kwargs=kwargs)
    return replace(loaded, ckpt=new)


def _say(loaded: Loaded, console: Any, line: str) -> Loaded:
    if console is not None:
        console.print(f"checkpoint loader '{loaded.loader}': {line}", soft_wrap=True, markup=False)
    return replace(loaded, ckpt=replace(loaded.ckpt, notes=[*loaded.ckpt.notes, line]))


def _names(keys: list[str]) -> str:
    return ", ".join(keys)


def _fmt(combo: dict[str, Any]) -> str:
    return " ".join(f"{k}={'identity' if v is None else v}" for k, v in combo.items())


def _scoring_items(graph: GraphData) -> Any:
    """The training and validation items (nodes, or graphs) as one boolean mask, or None."""
    if graph.task == "link-prediction":
        return None
    d = graph.data
    masks = [m for m in (getattr(d, f"{s}_mask", None) for s in ("train", "val")) if m is not None]
    if not masks:
        return None
    items = masks[0].clone()
    for m in masks[1:]:
        items |= m
    return items if bool(items.any()) else None


def _built(registry: Registry, ckpt: Any, kwargs: dict[str, Any]) -> Any:
    model = registry.build_architecture(ckpt.architecture, **kwargs)
    model.load_state_dict(ckpt.model.state_dict(), strict=True)
    return model.eval()


def _score(registry: Registry, loaded: Loaded, combo: dict[str, Any], items: Any) -> float | None:
    """Accuracy on ``items`` of the model built with ``combo`` (None: it could not be built or run)."""
    import torch

    from gnneval.model.forward import forward_pass

    try:
        model = _built(registry, loaded.ckpt, {**loaded.ckpt.architecture_kwargs, **combo})
        with torch.no_grad():
            pred = forward_pass(model, loaded.graph).argmax(-1)
        y = loaded.graph.data.y
        return float((pred[items] == y[items]).float().mean())
    except Exception as exc:  # noqa: BLE001 - one combination that does not run is reported, not fatal
        report("architecture inference", f"{_fmt(combo)} could not be run ({type(exc).__name__})")
        return None


def _clearly_better(best: float | None, first: float, n: int) -> bool:
    if best is None or best - first <= SWITCH_GAP:
        return False
    p = (best + first) / 2
    se = math.sqrt(2 * p * (1 - p) / n)
    return se == 0.0 or best - first > SWITCH_Z * se
