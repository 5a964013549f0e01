"""Measuring one variant: its outputs and every layer's embeddings, its size and FLOPs, and its metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gnneval.core.problems import report
from gnneval.core.records import VariantResult
from gnneval.measure.metrics import MetricSettings, SharedWork, applicable, compute_metric

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.contract import GraphData
    from gnneval.core.records import GraphArrays
    from gnneval.core.registry import Registry


@dataclass(frozen=True)
class MeasureJob:
    """What measuring needs besides the model: the registry's metrics to run, where, and with what inputs
    (built once per run from the settings and what the run resolved)."""

    registry: Registry
    metric_names: tuple[str, ...]
    arrays: GraphArrays
    metrics: MetricSettings
    device: str = "cpu"
    shared: SharedWork = field(default_factory=SharedWork)
    capture: tuple[str, ...] = ()  #: modules captured besides the message-passing layers (``--layer``)


def measure_variant(
    v: VariantResult,
    model: Any,
    graph: GraphData,
    dense: VariantResult | None,
    dense_numel: dict[str, int],
    ms: MeasureJob,
) -> None:
    """Fill ``v``'s outputs, counts and metrics (everything but timing)."""
    from gnneval.model.counting import count_params, counting_flops, layer_sparsity, size_bytes, weight_histograms
    from gnneval.model.forward import run_model

    model = model.to(ms.device).eval()
    with counting_flops(model) as counted:  # the measuring pass is the one counted (one pass, not two)
        v.outputs = run_model(model, graph, ms.device, ms.capture)
    v.flops, v.flops_sparse = counted.flops
    v.params, v.nonzero_params = count_params(model)
    v.size_bytes = size_bytes(model)
    v.edges = int(graph.data.edge_index.shape[1])
    base = dense.params if dense is not None else v.params
    v.param_reduction = 1.0 - v.params / base if base else 0.0
    v.weight_sparsity = 1.0 - v.nonzero_params / base if base else 0.0
    v.layer_sparsity = layer_sparsity(model, dense_numel)
    v.weight_histograms = weight_histograms(model)
    run_metrics(v, dense, ms)


def run_metrics(v: VariantResult, dense: VariantResult | None, ms: MeasureJob) -> None:
    """Every selected metric that applies, each isolated: one that fails is a problem naming it."""
    dense_out = dense.outputs if dense is not None else None
    assert v.outputs is not None
    for name in ms.metric_names:
        reg = ms.registry.get("metric", name)
        if not applicable(reg.obj, ms.arrays.task, dense_out, ms.arrays):
            continue
        who = f"metric '{name}' ({reg.plugin}) on {v.id}"
        try:
            metric = reg.obj(**reg.options)
        except Exception as exc:  # noqa: BLE001
            report(who, f"could not be created: {exc}")
            continue
        flat, per_layer = compute_metric(metric, ms.arrays, v.outputs, dense_out, ms.metrics, who, ms.shared)
        v.metrics.update(flat)
        for layer, vals in per_layer.items():
            v.layer_metrics.setdefault(layer, {}).update(vals)
    ms.shared.forget_except(list((dense_out or v.outputs).embeddings.values()))
