"""Task metrics of a classifier: accuracy per split, macro-F1, per-class accuracy, accuracy by
node-degree bucket (node classification), and agreement with the dense model (the nodes that flipped are
stored with the run).  For graph classification the labels, masks and predictions are per graph."""

from __future__ import annotations

import numpy as np

from gnneval.plugin import Column, Metric, MetricInputs, hookimpl
from gnneval.plugin.helpers import with_ci


class Accuracy(Metric):
    """Accuracy on the train, validation and test nodes (or graphs); for the test split also its 95% bootstrap
    interval over the test items, their number, and the majority-class rate (the accuracy of always predicting
    the training split's most frequent class) as the baseline a score must beat."""

    summary = {"test": Column.share("test acc", role="headline", help="accuracy on the test split")}
    intervals = {"test": "95% percentile bootstrap of the accuracy over the test items (Efron 1979), --bootstrap "
                         "resamples with replacement, seeded"}  # fmt: skip

    tasks = ("node-classification", "graph-classification")

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        g, pred = inputs.graph, inputs.variant.predictions
        out = {split: float((pred[m] == g.y[m]).mean()) for split, m in g.masks.items() if m.any()}
        test = g.masks.get("test")
        if test is not None and test.any():
            out.update(with_ci("test", (pred[test] == g.y[test]).astype(np.float64), inputs.seed, inputs.bootstrap))
            out["test_n"] = float(test.sum())
            train = g.masks.get("train")
            pool = g.y[train] if train is not None and train.any() else g.y
            majority = int(np.bincount(pool, minlength=g.num_classes).argmax())
            out["test_majority"] = float((g.y[test] == majority).mean())
        return out


class MacroF1(Metric):
    """Macro-averaged F1 over classes on the test nodes or graphs (scikit-learn)."""

    tasks = ("node-classification", "graph-classification")

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        from sklearn.metrics import f1_score

        m = inputs.graph.masks["test"]
        return {
            "test": float(
                f1_score(
                    inputs.graph.y[m],
                    inputs.variant.predictions[m],
                    average="macro",
                    labels=np.arange(inputs.graph.num_classes),
                    zero_division=0,
                )
            )
        }


class PerClassAccuracy(Metric):
    """Accuracy on the test nodes (or graphs) of each class (``class_<k>``)."""

    tasks = ("node-classification", "graph-classification")

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        g, pred = inputs.graph, inputs.variant.predictions
        m = g.masks["test"]
        out = {}
        for c in range(g.num_classes):
            sel = m & (g.y == c)
            if sel.any():
                out[f"class_{c}"] = float((pred[sel] == c).mean())
        return out


DEGREE_EDGES = (0, 1, 2, 3, 5, 9, 17, 33)  #: bucket starts: 0, 1, 2, 3-4, 5-8, 9-16, 17-32, 33+


def degree_bucket_labels(degree: np.ndarray) -> np.ndarray:
    """Label of each node's in-degree bucket (``"0"``, ``"1"``, ``"2"``, ``"3-4"``, ..., ``"33+"``)."""
    names = []
    for i, lo in enumerate(DEGREE_EDGES):
        hi = DEGREE_EDGES[i + 1] - 1 if i + 1 < len(DEGREE_EDGES) else None
        names.append(f"{lo}+" if hi is None else (str(lo) if hi == lo else f"{lo}-{hi}"))
    return np.asarray(names, dtype=object)[np.searchsorted(DEGREE_EDGES, degree, side="right") - 1]


class DegreeAccuracy(Metric):
    """Test accuracy by in-degree bucket (``deg_<bucket>``), with the bucket sizes (``n_deg_<bucket>``):
    do low-degree nodes suffer first?"""

    tasks = ("node-classification",)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        g, pred = inputs.graph, inputs.variant.predictions
        degree = np.bincount(g.edge_index[1], minlength=g.num_nodes)
        labels = degree_bucket_labels(degree)
        m = g.masks["test"]
        out = {}
        for b in dict.fromkeys(labels[m]):
            sel = m & (labels == b)
            out[f"deg_{b}"] = float((pred[sel] == g.y[sel]).mean())
            out[f"n_deg_{b}"] = float(sel.sum())
        return out


class Agreement(Metric):
    """Share of test nodes (or graphs) whose prediction equals the dense model's, and how many flipped."""

    summary = {"test": Column.share("agree", role="agreement", help="test predictions equal to the dense model's")}

    tasks = ("node-classification", "graph-classification")

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
    register.add_metric("per-class", PerClassAccuracy, description="test accuracy of each class")
    register.add_metric("degree-accuracy", DegreeAccuracy, description="test accuracy by node in-degree bucket")
