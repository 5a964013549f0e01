"""Running out of memory is one line that says which stage needed how much and what to do — never the
allocator's text: a full-graph pass that needs more than a memory limit set in the test (``RLIMIT_AS`` in a
subprocess) stops with that line and exit status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is how the test bounds memory (Linux)")
def test_a_pass_too_large_for_the_memory_limit_is_one_line(tmp_path):
    import resource

    from torch_geometric.nn.models import GCN

    from gnneval.plugin import DatasetRef
    from gnneval.store.checkpoints import save_checkpoint

    kw = {"in_channels": 32, "hidden_channels": 1024, "out_channels": 4, "num_layers": 2}
    ckpt = save_checkpoint(tmp_path / "wide.pt", model=GCN(**kw), architecture="gcn", architecture_kwargs=kw,
                           task="node-classification", metrics={}, training={},
                           dataset=DatasetRef("sbm", loader="sbm", options={"nodes": 100000, "avg_degree": 40}))  # fmt: skip

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    def evaluate(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gnneval", "evaluate", str(ckpt), "--pruner", "magnitude",
                               "--sparsity", "0.5", "--no-bench", "--no-progress", "--visualisers", "curves",
                               "--metrics", "accuracy", "--out", str(tmp_path / "run"), "--overwrite", *extra],
                              capture_output=True, text=True, preexec_fn=limit, timeout=600)  # fmt: skip

    res = evaluate("--inference", "full")  # edge_index: one 15 GiB allocation of per-edge messages
    errors = [line for line in res.stderr.splitlines() if line.startswith("gnneval: error:")]
    assert res.returncode == 2 and len(errors) == 1, res.stderr[-2000:]
    assert "the dense model's forward pass on sbm ran out of memory (one allocation of" in errors[0]
    assert "GiB)" in errors[0] and "Traceback" not in res.stderr and "DefaultCPUAllocator" not in res.stderr
    res = evaluate()  # auto: the sparse adjacency, no per-edge messages: the same run fits under the limit
    assert res.returncode == 0, res.stderr[-2000:]
    assert "inference: sparse adjacency (CSR spmm): no per-edge messages" in res.stderr


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is how the test bounds memory (Linux)")
def test_gat_too_large_for_full_batch_runs_layerwise_under_the_limit(tmp_path):
    """GAT's attention is per edge (no sparse adjacency): auto runs it layer-wise, under a limit the full pass
    exceeds, and the peak stays under it."""

    from torch_geometric.nn.models import GAT

    from gnneval.plugin import DatasetRef
    from gnneval.store.checkpoints import save_checkpoint

    kw = {"in_channels": 32, "hidden_channels": 2048, "out_channels": 4, "num_layers": 2, "heads": 4}
    ckpt = save_checkpoint(tmp_path / "gat.pt", model=GAT(**kw), architecture="gat", architecture_kwargs=kw,
                           task="node-classification", metrics={}, training={},
                           dataset=DatasetRef("sbm", loader="sbm", options={"nodes": 50000, "avg_degree": 20}))  # fmt: skip
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30)); "
        "from gnneval.cli import main; rc = main(sys.argv[1:]); "
        "print('peak-kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
    )

    def evaluate(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, "evaluate", str(ckpt), "--pruner", "magnitude",
                               "--sparsity", "0.5", "--no-bench", "--no-progress", "--visualisers", "curves",
                               "--metrics", "accuracy", "--out", str(tmp_path / "run"), "--overwrite", *extra],
                              capture_output=True, text=True, timeout=900)  # fmt: skip

    res = evaluate("--inference", "full")
    assert res.returncode == 2 and "ran out of memory (one allocation of" in res.stderr, res.stderr[-2000:]
    res = evaluate()
    assert res.returncode == 0, res.stderr[-2000:]
    assert "inference: layer-wise over node batches" in res.stderr
    peak = int(res.stderr.split("peak-kib")[1].split()[0]) * 1024
    assert peak < 6 << 30


def test_out_of_memory_messages_are_recognised():
    from gnneval.core.errors import out_of_memory

    cpu = RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                       "you tried to allocate 33554432000 bytes. Error code 12 (Cannot allocate memory)")  # fmt: skip
    line = out_of_memory(cpu, "variant magnitude@0.50", "sbm")
    assert line is not None and "variant magnitude@0.50 on sbm ran out of memory (one allocation of 31.2 GiB)" in line
    assert "DefaultCPUAllocator" not in line
    gpu = RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 80 GiB total capacity)")
    assert "ran out of GPU memory (one allocation of 2.00 GiB)" in out_of_memory(gpu, "x")
    assert out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"), "x") is None
