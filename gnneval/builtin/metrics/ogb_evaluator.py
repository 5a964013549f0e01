"""``ogb-evaluator``: the dataset's official OGB ``Evaluator`` (Hu et al. 2020) on its official validation and test
splits — accuracy (``ogbn-arxiv``, ``ogbn-products``), ROC-AUC (``ogbg-molhiv``), average precision, Hits@K
(``ogbl-collab``, ``ogbl-ddi``), MRR with each positive ranked against its own negatives (``ogbl-citation2``) —
as each dataset defines it.  It applies to datasets that name an official
evaluator (``GraphArrays.evaluator``, set by the ``ogb`` dataset loader), and its test score is then the run's
headline.  Scores for ROC-AUC and AP: the probability of class 1 (a softmax over two logits), or the logit
itself for a one-output model; accuracy: the argmax.  Accuracy also gets its 95% bootstrap interval over the test
items.
"""

from __future__ import annotations

import numpy as np

from gnneval.plugin import Column, Metric, MetricInputs, hookimpl
from gnneval.plugin.helpers import with_ci


def _evaluator(name: str):  # noqa: ANN202
    if name.startswith("ogbn-"):
        from ogb.nodeproppred import Evaluator
    elif name.startswith("ogbg-"):
        from ogb.graphproppred import Evaluator
    else:
        from ogb.linkproppred import Evaluator
    return Evaluator(name)


def _scores(logits: np.ndarray) -> np.ndarray:
    if logits.ndim == 1 or logits.shape[1] == 1:
        return logits.reshape(-1)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(axis=1, keepdims=True))[:, 1]


class OgbEvaluator(Metric):
    """The official OGB Evaluator's measure on the official validation and test splits (the run's headline)."""

    requires = ("evaluator",)
    summary = {"test": Column.share("test (OGB)", role="headline",
                                    help="the official OGB Evaluator's measure on the official test split")}  # fmt: skip
    intervals = {"test": "95% percentile bootstrap over the test items (accuracy only), --bootstrap resamples, seeded"}

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        g, out = inputs.graph, inputs.variant
        ev = _evaluator(g.evaluator)
        metric = str(ev.eval_metric)
        if g.task == "link-prediction":
            return {
                split: self._link(ev, metric, out.logits, *g.link[split], g.link_negatives)
                for split in ("val", "test")
                if split in g.link
            }
        values: dict[str, float] = {}
        for split in ("val", "test"):
            mask = g.masks[split]
            y = g.y[mask].reshape(-1, 1)
            if metric == "acc":
                pred = out.predictions[mask].reshape(-1, 1)
                values[split] = float(ev.eval({"y_true": y, "y_pred": pred})["acc"])
                if split == "test":
                    values.update(
                        with_ci("test", (pred == y).astype(np.float64).ravel(), inputs.seed, inputs.bootstrap)
                    )
            else:
                pred = _scores(out.logits[mask]).reshape(-1, 1)
                values[split] = float(ev.eval({"y_true": y, "y_pred": pred})[metric])
        values["test_n"] = float(g.masks["test"].sum())
        return values

    @staticmethod
    def _link(ev, metric: str, z: np.ndarray, index: np.ndarray, label: np.ndarray, negatives: int = 0) -> float:  # noqa: ANN001
        """The Evaluator on dot-product scores: pooled positives and negatives (Hits@K), or with ``negatives``
        each positive ranked against its own (MRR: the mean of OGB's per-positive reciprocal ranks)."""
        import torch

        s = np.concatenate([np.einsum("ij,ij->i", np.asarray(z[index[0, c]], dtype=np.float64),
                                      np.asarray(z[index[1, c]], dtype=np.float64))
                            for c in (slice(a, a + (1 << 20)) for a in range(0, index.shape[1], 1 << 20))])  # fmt: skip
        pos, neg = torch.from_numpy(s[label == 1]), torch.from_numpy(s[label == 0])
        if negatives:
            neg = neg.reshape(-1, negatives)
        result = ev.eval({"y_pred_pos": pos, "y_pred_neg": neg})
        if f"{metric}_list" in result:  # MRR: a value per positive
            return float(result[f"{metric}_list"].float().mean())
        return float(result[metric])


@hookimpl
def gnneval_register_metrics(register):
    register.add_metric(
        "ogb-evaluator", OgbEvaluator, description="the official OGB Evaluator (datasets that have one)"
    )
