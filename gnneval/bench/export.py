"""ONNX export with the exporter that works, fastest first.

``auto`` tries the exporter that last gave a correct graph for this model class and graph form (remembered
in gnneval's cache, per torch version), else TorchScript's (about 0.4 s for the zoo GCN) before the dynamo
exporter (about 2.6 s): every export is checked against PyTorch before it is timed, and one that fails or
disagrees falls back to the other exporter.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gnneval.core.defaults import EXPORTER_ORDER
from gnneval.core.errors import one_line
from gnneval.core.remembered import recall, remember

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gnneval.core.contract import GraphData


EXPORTER_CHOICES = "onnx_exporters"  #: the remembered file in gnneval's cache (:mod:`gnneval.core.remembered`)


def _choice_key(model, form: str) -> str:
    import torch

    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}|{form}|torch {torch.__version__}"


def exporter_order(exporter: str, model, form: str) -> tuple[str, ...]:
    """The exporters to try, in order: the one asked for, or for ``auto`` the remembered choice first."""
    if exporter != "auto":
        return (exporter,)
    remembered = recall(EXPORTER_CHOICES).get(_choice_key(model, form))
    return tuple(sorted(EXPORTER_ORDER, key=lambda name: name != remembered))


def remember_exporter(model, form: str, exporter: str) -> None:
    """Record that ``exporter`` gave a correct graph for this model class and form (best effort)."""
    remember(EXPORTER_CHOICES, {_choice_key(model, form): exporter})


def export_with_fallback(
    model_for: Callable[[str], torch.nn.Module],
    inputs: tuple,
    path: Path,
    exporter: str,
    input_names: Sequence[str],
    what: str = "ONNX export",
    custom_opsets: dict[str, int] | None = None,
) -> str:
    """Export ``model_for(name)`` on ``inputs`` to ``path`` (output ``out``, opset 18), trying the exporters
    of ``EXPORTER_ORDER`` in turn (``exporter="auto"``), or just the one asked for; the
    exporters' warnings and log lines are kept quiet.  Returns the exporter used; raises ``RuntimeError``
    naming what each exporter said when none works."""
    import logging

    import torch

    order = {"auto": EXPORTER_ORDER, "dynamo": ("dynamo",), "torchscript": ("torchscript",)}[exporter]
    errors = []
    for name in order:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                level = logging.getLogger("torch.onnx").level
                logging.getLogger("torch.onnx").setLevel(logging.ERROR)
                try:
                    extra = (
                        {"verbose": False}
                        if name == "dynamo"
                        else ({"custom_opsets": dict(custom_opsets)} if custom_opsets else {})
                    )
                    torch.onnx.export(
                        model_for(name),
                        inputs,
                        str(path),
                        dynamo=(name == "dynamo"),
                        opset_version=18,
                        input_names=list(input_names),
                        output_names=["out"],
                        **extra,
                    )
                finally:
                    logging.getLogger("torch.onnx").setLevel(level)
            return name
        except Exception as exc:  # noqa: BLE001 - try the next exporter
            errors.append(f"{name}: {one_line(exc)[:200]}")
    raise RuntimeError(f"{what} failed (" + "; ".join(errors) + ")")


def export_onnx(model: torch.nn.Module, graph: GraphData, path: Path, exporter: str = "auto") -> str:
    """Export ``model`` on ``graph``'s inputs to ``path``; returns the exporter used (``dynamo`` or ``torchscript``)."""
    from gnneval.model.forward import model_inputs

    inputs = tuple(t.cpu() for t in model_inputs(graph, "cpu", edges="edge_index"))  # ONNX takes edge_index
    model = model.cpu().eval()
    return export_with_fallback(
        lambda _name: model, inputs, path, exporter, ["x", "edge_index", "batch"][: len(inputs)]
    )
