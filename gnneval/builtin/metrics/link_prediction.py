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


def auc_interval(
    label: np.ndarray, scores: np.ndarray, seed: int, n_boot: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the ROC-AUC: pairs resampled with replacement, the AUC of each resample
    from ranks (Mann-Whitney U, ties averaged); resamples holding one class only are drawn again."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed + 7919)
    n, aucs = len(label), []
    while len(aucs) < max(1, n_boot):
        idx = rng.integers(0, n, n)
        y, s = label[idx], scores[idx]
        pos = int(y.sum())
        if pos in (0, n):
            continue
        ranks = rankdata(s)
        aucs.append((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * (n - pos)))
    lo, hi = np.percentile(aucs, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


class LinkPrediction(Metric):
    """Link prediction from an encoder: ROC-AUC and average precision of dot-product scores of the held-out
    positive and negative edges (val and test); for the test AUC its 95% bootstrap interval over the test
    pairs, their number and chance (0.5, the baseline a score must beat).
    """

    summary = {
        "test_auc": Column(
            "test AUC", "{:.1%}", role="headline", help="ROC-AUC of test edges against sampled non-edges"
        ),
        "test_agreement": Column.share("agree", role="agreement", help="test edges classified as the dense model does"),
    }
    tasks = ("link-prediction",)
    intervals = {"test_auc": "95% percentile bootstrap of the ROC-AUC over the test pairs (positives and negatives "
                             "resampled together, Efron 1979), --bootstrap resamples, seeded"}  # fmt: skip

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        from sklearn.metrics import average_precision_score, roc_auc_score

        out: dict[str, float] = {}
        z = inputs.variant.logits
        for split, (index, label) in inputs.graph.link.items():
            s = edge_scores(z, index)
            out[f"{split}_auc"] = float(roc_auc_score(label, s))
            out[f"{split}_ap"] = float(average_precision_score(label, s))
            if split == "test":
                lo, hi = auc_interval(np.asarray(label), s, inputs.seed, inputs.bootstrap)
                out.update(test_auc_ci_low=lo, test_auc_ci_high=hi, test_auc_n=float(len(label)), test_auc_chance=0.5)
            if inputs.dense is not None and split == "test":
                dense_s = edge_scores(inputs.dense.logits, index)
                out["test_agreement"] = float(((s > 0) == (dense_s > 0)).mean())
        if not out:
            raise ValueError("the dataset has no link-prediction edges (val/test edge labels)")
        return out


@hookimpl
def gnneval_register_metrics(register):
    register.add_metric("link-prediction", LinkPrediction, description="ROC-AUC and AP of dot-product edge scores")
