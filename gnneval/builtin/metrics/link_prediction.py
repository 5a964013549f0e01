"""Link-prediction metrics: ROC-AUC and average precision of the edge scores.

The model is an encoder; an edge (u, v) is scored by the dot product of rows u
and v of its output (the decoder of PyG's GAE and link-prediction examples).
True edges of the split are positives, the split's sampled non-edges negatives.
Also reports agreement with the dense model: the share of test pairs whose
predicted label (score > 0) is unchanged.
"""

from __future__ import annotations

import numpy as np

from gnneval.plugin import Column, Metric, MetricInputs, hookimpl


def edge_scores(z: np.ndarray, index: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return np.einsum("ij,ij->i", z[index[0]], z[index[1]])


class LinkPrediction(Metric):
    """Link prediction from an encoder: ROC-AUC and average precision of dot-product scores of the held-out
    positive and negative edges (val and test), with bootstrap intervals over edges.
    """

    summary = {
        "test_auc": Column(
            "test AUC", "{:.1%}", role="headline", help="ROC-AUC of test edges against sampled non-edges"
        ),
        "test_agreement": Column.share("agree", role="agreement", help="test edges classified as the dense model does"),
    }
    tasks = ("link-prediction",)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        from sklearn.metrics import average_precision_score, roc_auc_score

        out: dict[str, float] = {}
        z = inputs.variant.logits
        for split, (index, label) in inputs.graph.link.items():
            s = edge_scores(z, index)
            out[f"{split}_auc"] = float(roc_auc_score(label, s))
            out[f"{split}_ap"] = float(average_precision_score(label, s))
            if inputs.dense is not None and split == "test":
                dense_s = edge_scores(inputs.dense.logits, index)
                out["test_agreement"] = float(((s > 0) == (dense_s > 0)).mean())
        if not out:
            raise ValueError("the dataset has no link-prediction edges (val/test edge labels)")
        return out


@hookimpl
def gnneval_register_metrics(register):
    register.add_metric("link-prediction", LinkPrediction, description="ROC-AUC and AP of dot-product edge scores")
