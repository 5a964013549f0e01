"""Similarity of a pruned variant's layer embeddings to the dense model's.

Linear CKA (Kornblith et al. 2019) in its feature-space form,
``||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F)`` on column-centred embeddings: O(n d^2),
never the n x n Gram matrix, and defined when the pruned layer is narrower than
the dense one (structured pruning).
"""

from __future__ import annotations

import numpy as np

from gnneval.plugin import Metric, MetricInputs, hookimpl


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between two representations of the same n points (any widths)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same points: {x.shape[0]} vs {y.shape[0]} rows")
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    xy = np.linalg.norm(y.T @ x) ** 2
    xx = np.linalg.norm(x.T @ x)
    yy = np.linalg.norm(y.T @ y)
    if xx == 0.0 or yy == 0.0:
        return float("nan")  # a constant representation has no similarity structure
    return float(xy / (xx * yy))


class LinearCKA(Metric):
    level = "layer"
    needs_dense = True

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        return {"dense": linear_cka(inputs.embedding, inputs.dense_embedding)}


@hookimpl
def gnneval_register_metrics(register):
    register.add_metric("linear-cka", LinearCKA, description="linear CKA of each layer to the dense model's")
