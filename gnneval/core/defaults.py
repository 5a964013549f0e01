"""Every default and every fixed set of choices, defined once.

The command line's help, the settings, the contexts handed to plugins and the docs all read them from
here (a test checks that each help string's default is the code's), so a default changes in one place.
"""

from __future__ import annotations

SEED = 0  #: seed of every random choice
SPARSITIES = (0.3, 0.5, 0.7, 0.9)  #: sparsities evaluated when none are given
MAX_PARAMS = 200_000_000  #: a checkpoint holding more weights is refused before they are allocated
PLUGIN_TIMEOUT_S = 600.0  #: seconds one metric call or one visualiser may take before it is stopped
METRIC_SAMPLE = 2000  #: nodes in the seeded sample shared by O(n^2) metrics
STORE_SAMPLE = 20_000  #: nodes whose embeddings run.h5 keeps under ``--store-embeddings sample``
STORE_EMBEDDINGS = ("auto", "all", "sample", "none")  #: ``--store-embeddings`` (see gnneval.store.stored_rows)
STORE_ALL_NODES = 500_000  #: ``--store-embeddings auto`` keeps every node's embeddings up to this many nodes
INFERENCE = ("full", "sparse", "layerwise", "auto")  #: ``--inference`` (see gnneval.model.inference)
SPILL_BYTES = 1 << 30  #: dense outputs above this are memory-mapped while variants run (store/spilled.py)
METRIC_NODES = 100_000  #: nodes O(N) metrics (probes, k-means, sums over edges) use at most: a seeded sample above
BOOTSTRAP = 200  #: bootstrap resamples for confidence intervals
DEVICE = "auto"  #: CUDA where available, else the CPU (or ``cpu``, ``cuda``, ``cuda:N``)

BACKENDS = ("torch", "onnxruntime", "torch-compile", "torch-sparse")  #: benchmark backends
DEFAULT_BACKENDS = ("torch", "onnxruntime")
BENCH_BUDGET_S = 0.5  #: seconds of timed runs per backend
SPARSE_KERNELS = ("csr", "2:4")  #: ``torch-sparse``: CSR weights (CPU and CUDA), or 2:4 semi-structured (CUDA)
ONNX_GRAPHS = ("auto", "sparse", "scatter")  #: message passing in the ONNX export: sparse where it applies, or as asked
EXPORTER_ORDER = ("torchscript", "dynamo")  #: ``--onnx-exporter auto`` without a remembered choice: the faster first
EXPORTERS = ("auto", *EXPORTER_ORDER)

EXIT_OK = 0  #: everything asked for was done
EXIT_FAILED = 1  #: ``batch``: some checkpoints failed (their reasons are in the leaderboard)
EXIT_USAGE = 2  #: bad input, said in one line before any heavy work
EXIT_INCOMPLETE = 3  #: ``evaluate``: the run is stored, but a pruner or variant failed (named in its problems)
EXIT_INTERRUPTED = 130  #: Ctrl-C: what was finished is stored, and the message says what

BATCH_JOBS = 1  #: ``gnneval batch``: local worker processes
PROGRESS_FILE_ENV = "GNNEVAL_PROGRESS_FILE"
"""Where ``evaluate`` writes ``{"done", "total", "now"}`` after each variant (``batch`` sets it per job and shows
each checkpoint's variants as they finish)."""
BATCH_TOLERANCE = 1.0  #: ``gnneval batch``: accuracy points below dense that still count as kept


def auto_exporter() -> str:
    """What ``--onnx-exporter auto`` does, in words, from :data:`EXPORTER_ORDER`."""
    first, *rest = EXPORTER_ORDER
    return (
        f"auto: the exporter remembered to work for this model class, else {first} then "
        f"{', then '.join(rest)}; every export is checked against PyTorch and one that fails or disagrees "
        f"falls back to the next"
    )


def csv(values: tuple[str, ...] | tuple[float, ...]) -> str:
    """``a,b,c``: how a default list is written on the command line."""
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
