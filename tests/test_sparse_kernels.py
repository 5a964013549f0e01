"""Unstructured sparsity on sparse kernels (``torch-sparse``), N:M patterns, paired ONNX Runtime timing and
``--device auto``."""

from __future__ import annotations

import copy

import pytest
import torch

from gnneval.bench import sparse_kernels
from gnneval.bench.backends import BenchSettings, Reference, bench_torch_sparse, run_backends
from gnneval.builtin.pruners.magnitude import MagnitudePruner, n_of_m_masks
from gnneval.model.forward import model_inputs
from gnneval.plugin import PruneContext, UsageError
from gnneval.testing import small_graph, small_model


@pytest.fixture(scope="module")
def graph():
    g = small_graph(nodes=400, features=64)
    x = g.data.x
    x[torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) < 0.9] = 0  # mostly-zero features, as Cora's
    return g


@pytest.fixture(scope="module")
def pruned(graph):
    model = small_model(graph, hidden=32, epochs=5).eval()
    out = MagnitudePruner().prune(copy.deepcopy(model), 0.9, PruneContext(graph, "gcn", seed=0)).model.eval()
    return model, out


def test_every_sparse_form_gives_the_eager_outputs(graph, pruned, monkeypatch):
    """CSR weights and CSR node features, forced by a timer that prefers them, compute what eager PyTorch does."""
    dense, model = pruned
    rank = {"SparseInputLinear": 0.0, "CsrLinear": 0.5}
    monkeypatch.setattr(sparse_kernels, "_median_ms", lambda fn, x, device: rank.get(type(fn).__name__, 1.0))
    inputs = model_inputs(graph)
    fast, lines = sparse_kernels.sparsify(model, inputs, sparse_input=True)
    assert any("CSR node features" in line for line in lines) and any("CSR weight" in line for line in lines)
    assert isinstance(fast.convs[0].lin.forward, sparse_kernels.SparseInputLinear)
    assert isinstance(fast.convs[1].lin.forward, sparse_kernels.CsrLinear)
    with torch.inference_mode():
        torch.testing.assert_close(fast(*inputs), model(*inputs), rtol=1e-4, atol=1e-5)
    assert model.convs[1].lin.forward.__self__ is model.convs[1].lin  # the model itself is untouched


def test_the_sparse_backend_is_timed_against_dense_eager_and_says_what_it_chose(graph, pruned):
    dense, model = pruned
    (b,) = run_backends(
        model,
        graph,
        BenchSettings(backends=("torch-sparse",), budget_s=0.1, sparse_input=True),
        device="cpu",
        reference=Reference(dense, graph),
    )
    assert b.status == "ok" and b.backend == "torch-sparse" and b.paired_runs >= 10 and b.speedup > 0
    assert b.max_abs_diff <= 1e-4 and "convs.0.lin" in b.note and "eager" in b.note


def test_a_wrong_sparse_kernel_is_a_mismatch_not_a_timing(graph, pruned, monkeypatch):
    dense, model = pruned
    monkeypatch.setattr(
        sparse_kernels, "_median_ms", lambda fn, x, device: 0.0 if isinstance(fn, sparse_kernels.CsrLinear) else 1.0
    )
    real = sparse_kernels.CsrLinear.__call__
    monkeypatch.setattr(sparse_kernels.CsrLinear, "__call__", lambda self, x: real(self, x) + 1.0)
    b = bench_torch_sparse(model, graph, device="cpu", budget_s=0.1, reference=None, sparse_input=False, kernels="csr")
    assert b.status == "mismatch" and "disagree" in b.note and b.runs == 0


def test_two_of_four_keeps_the_two_largest_of_every_four():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    w = model[0].weight.detach().clone()
    masks = n_of_m_masks(model, 2, 4)
    m = masks["0.weight"]
    assert m[:, :8].reshape(6, 2, 4).sum(-1).eq(2).all()  # exactly two of each full group of four
    top = w[:, :4].abs().topk(2, dim=1).indices
    assert m[:, :4].gather(1, top).all()  # ... and they are the largest
    assert m[:, 8:].sum(1).eq(1).all()  # a partial group of 2 keeps ceil(2 * 2 / 4) = 1
    assert (model[0].weight[~m] == 0).all()


def test_a_pattern_fixes_the_sparsity(graph):
    model = small_model(graph, hidden=32, epochs=1)
    with pytest.raises(UsageError, match="pattern 2:4 gives sparsity 0.5, not 0.9; run it with --sparsity 0.5"):
        MagnitudePruner(pattern="2:4").prune(model, 0.9, PruneContext(graph, "gcn", seed=0))
    with pytest.raises(UsageError, match="not N:M"):
        MagnitudePruner(pattern="two:four").prune(model, 0.5, PruneContext(graph, "gcn", seed=0))
    out = MagnitudePruner(pattern="2:4").prune(model, 0.5, PruneContext(graph, "gcn", seed=0))
    assert out.details["pattern"] == "2:4"
    w = out.model.convs[0].lin.weight
    assert w.reshape(w.shape[0], -1, 4).ne(0).sum(-1).le(2).all()


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: 2:4 semi-structured kernels run on NVIDIA GPUs"
)
def test_two_of_four_runs_on_semi_structured_kernels(graph):
    model = small_model(graph, hidden=128, epochs=1).half()
    model = MagnitudePruner(pattern="2:4").prune(model, 0.5, PruneContext(graph, "gcn", seed=0)).model
    b = bench_torch_sparse(model, graph, device="cuda", budget_s=0.1, reference=None, sparse_input=False, kernels="2:4")
    assert b.status in ("ok", "mismatch"), b.note


def test_onnxruntime_variants_are_timed_paired_with_the_dense_session(graph, pruned):
    dense, model = pruned
    keep: dict = {}
    (d,) = run_backends(
        dense,
        graph,
        BenchSettings(backends=("onnxruntime",), budget_s=0.1, exporter="torchscript"),
        device="cpu",
        keep=keep,
    )
    assert d.status == "ok" and d.paired_runs == 0 and callable(keep["onnxruntime"])
    ref = Reference(dense, graph, None, keep["onnxruntime"], d.median_ms)
    (v,) = run_backends(
        model,
        graph,
        BenchSettings(backends=("onnxruntime",), budget_s=0.1, exporter="torchscript"),
        device="cpu",
        reference=ref,
    )
    assert v.status == "ok" and v.paired_runs >= 10 and v.speedup_ci_low <= v.speedup <= v.speedup_ci_high
    assert "interleaved with the dense model's session" in v.note


def test_device_auto_picks_cuda_only_where_there_is_one():
    from gnneval.core.problems import collecting
    from gnneval.load.inputs import usable_device

    with collecting() as problems:
        assert usable_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert not problems


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: ONNX Runtime's CUDA provider runs where one is"
)
def test_onnxruntime_on_cuda_binds_inputs_and_output_on_the_gpu(graph, pruned):
    _dense, model = pruned
    (b,) = run_backends(
        model, graph, BenchSettings(backends=("onnxruntime",), budget_s=0.1, exporter="torchscript"), device="cuda"
    )
    assert b.status == "ok" and b.device == "cuda" and "I/O binding" in b.note, b.note


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CUDA-event timing runs where one is")
def test_cuda_variants_are_timed_by_cuda_events_with_gpu_peak_memory(graph, pruned):
    from gnneval.bench.backends import bench_torch

    dense, model = pruned
    b = bench_torch(copy.deepcopy(model), graph, device="cuda", budget_s=0.1, reference=Reference(dense, graph))
    assert b.paired_runs >= 10 and "CUDA events" in b.note and "CUDA max allocated" in b.note
    assert b.peak_memory_bytes > 0


def test_an_unstructured_variant_reuses_the_dense_onnx_graph_with_its_weights(graph, pruned, tmp_path):
    """No new export for a variant that only zeroed weights: the dense graph, initializers swapped, checked
    against PyTorch; a structurally pruned variant is exported afresh."""
    from gnneval._plugins.manager import build_plugin_host

    dense, model = pruned
    keep: dict = {}
    (d,) = run_backends(
        dense,
        graph,
        BenchSettings(backends=("onnxruntime",), budget_s=0.05),
        device="cpu",
        workdir=tmp_path / "dense",
        keep=keep,
    )
    assert d.status == "ok" and keep["onnx_graph"] is not None and keep["onnx_graph"].bindings
    ref = Reference(dense, graph, None, keep["onnxruntime"], d.median_ms, keep["onnx_graph"])
    (v,) = run_backends(
        model,
        graph,
        BenchSettings(backends=("onnxruntime",), budget_s=0.05),
        device="cpu",
        workdir=tmp_path / "v",
        reference=ref,
    )
    assert v.status == "ok" and "no new export" in v.note and v.max_abs_diff < 1e-4, v.note
    structured = (
        build_plugin_host()
        .registry.get("pruner", "structured")
        .obj()
        .prune(copy.deepcopy(dense), 0.5, PruneContext(graph, "gcn", seed=0))
        .model
    )
    (s,) = run_backends(
        structured,
        graph,
        BenchSettings(backends=("onnxruntime",), budget_s=0.05),
        device="cpu",
        workdir=tmp_path / "s",
        reference=ref,
    )
    assert s.status == "ok" and "no new export" not in s.note and s.max_abs_diff < 1e-4
