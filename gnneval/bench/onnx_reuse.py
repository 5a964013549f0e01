"""An unstructured variant needs no new ONNX export: the dense model's graph with its weights swapped.

Zeroing weights changes no shape, so the dense model's exported graph computes any unstructured variant once
its initializers hold the variant's values.  :func:`bind` matches every initializer of the dense export to
the dense model's tensor with exactly the same values (as stored, or transposed, which is how exporters
fold ``x @ W.T``); :func:`swap` writes the variant's values into a copy.  A weight the exporter folded into
something unrecognisable cannot be swapped: if the variant changed such a weight, :func:`swap` refuses and
the variant is exported afresh.  The result is checked against PyTorch like every export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class DenseGraph:
    """The dense model's export and how its initializers map onto the model's tensors."""

    path: Path
    form: str  #: ``sparse`` or ``scatter``
    exporter: str
    bindings: dict[str, list[tuple[str, bool]]]  #: initializer -> candidate (state_dict key, transposed) pairs
    dense_state: dict[str, np.ndarray]


def _state(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def bind(model, path: Path, form: str, exporter: str) -> DenseGraph:
    """Match each initializer of the export at ``path`` to ``model``'s tensors with equal values."""
    import onnx
    from onnx import numpy_helper

    state = _state(model)
    bindings: dict[str, list[tuple[str, bool]]] = {}
    for init in onnx.load(str(path)).graph.initializer:
        arr = numpy_helper.to_array(init)
        hits = [(k, False) for k, v in state.items() if v.shape == arr.shape and np.array_equal(v, arr)]
        hits += [
            (k, True)
            for k, v in state.items()
            if v.ndim == 2 and v.shape[::-1] == arr.shape and v.shape != arr.shape and np.array_equal(v.T, arr)
        ]
        if hits:
            bindings[init.name] = hits
    return DenseGraph(path, form, exporter, bindings, state)


def swap(dense: DenseGraph, model, out: Path) -> str:
    """Write the dense export with ``model``'s values to ``out``; ValueError when that cannot be done exactly."""
    import onnx
    from onnx import numpy_helper

    state = _state(model)
    if state.keys() != dense.dense_state.keys() or any(state[k].shape != v.shape for k, v in dense.dense_state.items()):
        raise ValueError("the variant's tensors differ in name or shape from the dense model's (structured pruning)")
    bound = {k for hits in dense.bindings.values() for k, _t in hits}
    changed = [k for k in state if k not in bound and not np.array_equal(state[k], dense.dense_state[k])]
    if changed:
        raise ValueError(f"the export folded {changed[0]}, which this variant changed")
    proto = onnx.load(str(dense.path))
    for init in proto.graph.initializer:
        hits = dense.bindings.get(init.name)
        if not hits:
            continue
        values = [state[k].T if t else state[k] for k, t in hits]
        if any(not np.array_equal(values[0], v) for v in values[1:]):
            raise ValueError(f"initializer {init.name} stood for several tensors that this variant tells apart")
        init.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(values[0]).astype(_dtype(init)), init.name))
    onnx.save(proto, str(out))
    return dense.exporter


def _dtype(init: Any) -> np.dtype:
    from onnx import helper

    return np.dtype(helper.tensor_dtype_to_np_dtype(init.data_type))
