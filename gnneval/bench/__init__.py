"""Stage 3b, benchmark: latency of a variant on PyTorch, ONNX Runtime, torch.compile and sparse kernels.

The choices the command line offers are defined here once, without importing anything heavy.
"""

BACKENDS = ("torch", "onnxruntime", "torch-compile", "torch-sparse")
SPARSE_KERNELS = ("csr", "2:4")  #: ``torch-sparse``: CSR weights (CPU and CUDA), or 2:4 semi-structured (CUDA)
DEFAULT_BACKENDS = ("torch", "onnxruntime")
EXPORTERS = ("auto", "dynamo", "torchscript")  #: ``auto``: the dynamo exporter, TorchScript where it fails
ONNX_GRAPHS = ("auto", "sparse", "scatter")  #: message passing in the export: sparse where it applies, or as asked
