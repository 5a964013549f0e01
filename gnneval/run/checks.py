"""Checks of the dense model's scores, before any variant is made: each finding is a named warning in the
console and a problem stored with the run (and so in the summary's problems and the report).

- **recorded scores**: each score the checkpoint records against the one evaluated here;
- **baseline**: a headline score not above the baseline its metric reports (``<key>_majority``, always
  predicting the most frequent training class, or ``<key>_chance``, e.g. 0.5 for a ROC-AUC), naming the
  loader's assumptions that could explain it;
- **plausibility**: a test score far above the validation score, evaluated here or recorded at training — a
  model does not do better on unseen items than on its validation items unless it saw them: its training
  split overlaps this test split.
"""

from __future__ import annotations

import math
from typing import Any

from gnneval.core.problems import report
from gnneval.core.records import VariantResult
from gnneval.load.inputs import Loaded

MATCH_TOLERANCE = 0.005
"""A recorded score within this of the evaluated one matches (rounding); any other difference is a problem."""
STORED_SCORE_TOLERANCE = 0.02
"""A recorded score this much above the evaluated one (2 points of accuracy) gets the usual causes named."""
OVERLAP_GAP = 0.05
"""Test accuracy this far (5 points) above the validation accuracy, and ..."""
OVERLAP_Z = 3.0
"""... this many standard errors of the difference of the two proportions above it, flags a test split the
model was probably trained on."""


def check_dense_scores(loaded: Loaded, dense: VariantResult, columns: list[Any], console: Any) -> None:
    """Every check above, on the dense model's metrics."""
    for key, stored in loaded.ckpt.recorded_scores.items():
        got = dense.metrics.get(key)
        if got is not None and abs(got - stored) <= MATCH_TOLERANCE:
            console.print(f"checkpoint check: evaluated {key} {got:.4f} matches the recorded {stored:.4f}")
    for msg, where in [*recorded_score_findings(loaded, dense), *baseline_findings(loaded, dense, columns),
                       *overlap_findings(loaded, dense, columns)]:  # fmt: skip
        console.print(f"warning: {msg}", soft_wrap=True, markup=False)
        report(where, msg)


def recorded_score_findings(loaded: Loaded, dense: VariantResult) -> list[tuple[str, str]]:
    """Each recorded score that the evaluation does not reproduce: (message, where)."""
    out = []
    for key, stored in loaded.ckpt.recorded_scores.items():
        got = dense.metrics.get(key)
        if got is None or abs(got - stored) <= MATCH_TOLERANCE:
            continue
        msg = f"the checkpoint records {key} {stored:.4f} but it evaluates to {got:.4f} here" + (
            ": the usual causes are feature normalisation (--transform NormalizeFeatures), a different "
            "split, self-loops or the weight mapping"
            if stored - got > STORED_SCORE_TOLERANCE
            else ": the weight mapping, the dataset or its split differs"
        )
        out.append((msg, f"checkpoint loader '{loaded.loader}'"))
    return out


def baseline_findings(loaded: Loaded, dense: VariantResult, columns: list[Any]) -> list[tuple[str, str]]:
    """A dense headline score at or below its metric's baseline (``<key>_majority``)."""
    head = next((c for c in columns if c.role == "headline"), None)
    score = dense.metrics.get(head.key) if head else None
    majority = dense.metrics.get(head.key + "_majority") if head else None
    baseline = majority if majority is not None else dense.metrics.get(head.key + "_chance") if head else None
    if head is None or score is None or baseline is None or score > baseline:
        return []
    assumed = [n for n in loaded.ckpt.notes if any(w in n for w in ("assum", "inferred", "guess", "undecided"))]
    what = ("the majority-class rate", "always answering the most frequent class") if majority is not None else (
        "chance", "scoring at random")  # fmt: skip
    msg = (f"the dense model scores {head.fmt(score)} ({head.label}), not above {what[0]} "
           f"{head.fmt(baseline)}: it predicts no better than {what[1]}"
           + (f"; the loader assumed: {'; '.join(assumed)} — a wrong assumption explains such a score"
              if assumed else "; check the dataset, its split and --transform"))  # fmt: skip
    return [(msg, "baseline")]


def overlap_findings(loaded: Loaded, dense: VariantResult, columns: list[Any]) -> list[tuple[str, str]]:
    """A headline share on the test items (``<metric>.test``, e.g. accuracy) far above the same metric's
    ``<metric>.val``, evaluated here or recorded at training."""
    head = next((c for c in columns if c.role == "headline"), None)
    if head is None or not head.key.endswith(".test"):
        return []
    m, data, val_key = dense.metrics, loaded.graph.data, head.key[: -len("test")] + "val"
    test, n_test = m.get(head.key), _count(data, "test")
    if test is None or not n_test:
        return []
    split = loaded.graph.split or "the loader's split"
    candidates = [("evaluated here", m.get(val_key), _count(data, "val")),
                  ("recorded at training", loaded.ckpt.recorded_scores.get(val_key), 0)]  # fmt: skip
    for how, val, n_val in candidates:
        if val is None or not _far_above(test, n_test, val, n_val):
            continue
        msg = (f"{head.label} {test:.1%} is {100 * (test - val):.1f} points above the same score on the "
               f"validation items {how} ({val:.1%}): a model does not do better on unseen items than on its validation items unless "
               f"it was trained on them — its training split probably overlaps this test split ({split}); "
               "evaluate on the split it was trained with (--split FILE)")  # fmt: skip
        return [(msg, "plausibility")]
    return []


def _count(data: Any, split: str) -> int:
    mask = getattr(data, f"{split}_mask", None)
    return int(mask.sum()) if mask is not None else 0


def _far_above(test: float, n_test: int, val: float, n_val: int) -> bool:
    """``test - val`` above :data:`OVERLAP_GAP` and :data:`OVERLAP_Z` standard errors of a difference of two
    proportions (``n_val`` 0: a recorded value, taken as exact)."""
    gap = test - val
    if gap <= OVERLAP_GAP:
        return False
    pooled = (test * n_test + val * n_val) / (n_test + n_val)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_test + (1 / n_val if n_val else 0.0)))
    return se == 0.0 or gap > OVERLAP_Z * se
