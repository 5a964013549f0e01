"""Functional similarity: compare what the two models output, not their hidden layers.

Prediction agreement is the ``agreement`` metric; here the Jensen–Shannon divergence of the output
distributions and the absolute difference in accuracy, on the test nodes (graphs).
"""

from __future__ import annotations

import numpy as np

from gnneval.builtin.metrics.repsim.base import GROUP
from gnneval.plugin import Column, Metric, MetricInputs


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row Jensen–Shannon divergence in bits (Lin 1991): in [0, 1]."""
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * (np.log2(a) - np.log2(np.where(b > 0, b, 1.0))), 0.0)
        return terms.sum(1)

    return np.clip((kl(p, m) + kl(q, m)) / 2, 0.0, 1.0)


class OutputJSD(Metric):
    """Jensen–Shannon divergence (Lin 1991, base 2, in [0, 1]; 0 = identical outputs) between the softmax of the
    variant's and the dense model's logits, mean over the test nodes (graphs); ``similarity`` = 1 - JSD.
    Symmetric; invariant to adding a constant to a node's logits."""

    summary = {
        "dense": Column(
            "output JSD", "{:.4f}", help="Jensen–Shannon divergence of the outputs to dense, bits, mean over test nodes"
        )
    }
    tasks = ("node-classification", "graph-classification")
    needs_dense = True
    groups = (GROUP,)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        m = inputs.graph.masks["test"]
        jsd = js_divergence(
            softmax(np.asarray(inputs.variant.logits, np.float64)[m]),
            softmax(np.asarray(inputs.dense.logits, np.float64)[m]),
        )
        return {"dense": float(jsd.mean()), "similarity": float(1.0 - jsd.mean())}


class AccuracyDifference(Metric):
    """|accuracy(variant) - accuracy(dense)| on the test nodes (graphs): in [0, 1], 0 = same accuracy (which
    does not mean the same predictions; see ``agreement``)."""

    summary = {"dense": Column.share("|Δ acc|", help="absolute test-accuracy difference to dense")}
    tasks = ("node-classification", "graph-classification")
    needs_dense = True
    groups = (GROUP,)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        g = inputs.graph
        m = g.masks["test"]
        acc_v = float((inputs.variant.predictions[m] == g.y[m]).mean())
        acc_d = float((inputs.dense.predictions[m] == g.y[m]).mean())
        return {"dense": abs(acc_v - acc_d)}


MEASURES = {"output-jsd": OutputJSD, "accuracy-diff": AccuracyDifference}
