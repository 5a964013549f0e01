"""Stage 3b, benchmark: latency of a variant on PyTorch, ONNX Runtime, torch.compile and sparse kernels.

The choices the command line offers are defined once, in :mod:`gnneval.core.defaults`.
"""

from gnneval.core.defaults import BACKENDS, DEFAULT_BACKENDS, EXPORTER_ORDER, EXPORTERS, ONNX_GRAPHS, SPARSE_KERNELS

__all__ = ["BACKENDS", "DEFAULT_BACKENDS", "EXPORTERS", "EXPORTER_ORDER", "ONNX_GRAPHS", "SPARSE_KERNELS"]
