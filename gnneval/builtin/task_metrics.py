"""Task metrics of a node classifier: accuracy per split, macro-F1, agreement with the dense model."""

from __future__ import annotations

import numpy as np

from gnneval.plugin import Metric, MetricInputs, hookimpl


class Accuracy(Metric):
    """Accuracy on the train, validation and test nodes."""

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        g, pred = inputs.graph, inputs.variant.predictions
        return {split: float((pred[m] == g.y[m]).mean()) for split, m in g.masks.items() if m.any()}


class MacroF1(Metric):
    """Macro-averaged F1 over classes on the test nodes (scikit-learn)."""

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        from sklearn.metrics import f1_score

        m = inputs.graph.masks["test"]
        return {"test": float(f1_score(inputs.graph.y[m], inputs.variant.predictions[m], average="macro",
                                       labels=np.arange(inputs.graph.num_classes), zero_division=0))}


class Agreement(Metric):
    """Share of test nodes whose prediction equals the dense model's, and how many flipped."""

    needs_dense = True

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        m = inputs.graph.masks["test"]
        same = inputs.variant.predictions[m] == inputs.dense.predictions[m]
        return {"test": float(same.mean()), "flipped": float((~same).sum())}


@hookimpl
def gnneval_register_metrics(register):
    register.add_metric("accuracy", Accuracy, description="accuracy on train / val / test nodes")
    register.add_metric("macro-f1", MacroF1, description="macro-averaged F1 on test nodes")
    register.add_metric("agreement", Agreement, description="prediction agreement with the dense model (test)")
