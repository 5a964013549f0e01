"""ONNX export with the exporter that works: the dynamo exporter, then TorchScript (``auto``), or the one asked for."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gnneval.plugin.errors import one_line

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gnneval.plugin.api import GraphData



def export_with_fallback(model_for: Callable[[str], torch.nn.Module], inputs: tuple, path: Path, exporter: str,
                         input_names: Sequence[str], what: str = "ONNX export",
                         custom_opsets: dict[str, int] | None = None) -> str:
    """Export ``model_for(name)`` on ``inputs`` to ``path`` (output ``out``, opset 18), trying the dynamo
    exporter, then TorchScript where that fails (``exporter="auto"``), or just the one asked for; the
    exporters' warnings and log lines are kept quiet.  Returns the exporter used; raises ``RuntimeError``
    naming what each exporter said when none works."""
    import logging

    import torch

    order = {"auto": ("dynamo", "torchscript"), "dynamo": ("dynamo",), "torchscript": ("torchscript",)}[exporter]
    errors = []
    for name in order:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                level = logging.getLogger("torch.onnx").level
                logging.getLogger("torch.onnx").setLevel(logging.ERROR)
                try:
                    extra = {"verbose": False} if name == "dynamo" else \
                        ({"custom_opsets": dict(custom_opsets)} if custom_opsets else {})
                    torch.onnx.export(model_for(name), inputs, str(path), dynamo=(name == "dynamo"), opset_version=18,
                                      input_names=list(input_names), output_names=["out"], **extra)
                finally:
                    logging.getLogger("torch.onnx").setLevel(level)
            return name
        except Exception as exc:  # noqa: BLE001 - try the next exporter
            errors.append(f"{name}: {one_line(exc)[:200]}")
    raise RuntimeError(f"{what} failed (" + "; ".join(errors) + ")")


def export_onnx(model: torch.nn.Module, graph: GraphData, path: Path, exporter: str = "auto") -> str:
    """Export ``model`` on ``graph``'s inputs to ``path``; returns the exporter used (``dynamo`` or ``torchscript``)."""
    from gnneval.measure.forward import model_inputs

    inputs = tuple(t.cpu() for t in model_inputs(graph, "cpu"))
    model = model.cpu().eval()
    return export_with_fallback(lambda _name: model, inputs, path, exporter,
                                ["x", "edge_index", "batch"][:len(inputs)])
