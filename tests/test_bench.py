"""Benchmarking: ONNX export round trips, provider selection, flagged mismatches, CUDA fallback.
No test asserts a speed: timings are only checked to be positive and shaped right."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from gnneval._plugins.manager import build_plugin_host
from gnneval.bench.backends import (
    BACKENDS,
    BenchSettings,
    bench_onnxruntime,
    bench_torch,
    choose_providers,
    run_backends,
)
from gnneval.builtin.datasets.synthetic import make_sbm
from gnneval.core.problems import collecting
from gnneval.plugin import GraphData, PruneContext


@pytest.fixture(scope="module")
def graph():
    return GraphData("sbm", "node-classification", make_sbm(nodes=400, seed=2), 32, 4, "generated")


def _shaped_right(b, graph):
    assert b.status == "ok", b.note
    assert b.runs >= 5 and b.warmup >= 3 and b.threads >= 1
    assert 0 < b.p10_ms <= b.median_ms <= b.p90_ms
    assert b.throughput_nodes_per_s == pytest.approx(graph.data.num_nodes / (b.median_ms / 1e3))
    assert b.peak_memory_bytes >= 0


def _models():
    from torch_geometric.nn.models import GAT, GCN, GraphSAGE

    torch.manual_seed(0)
    yield "gcn", GCN(32, 24, 2, out_channels=4).eval()
    yield "sage", GraphSAGE(32, 24, 2, out_channels=4).eval()
    yield "gat", GAT(32, 24, 2, out_channels=4, heads=3).eval()


@pytest.mark.parametrize("onnx_graph", ["auto", "scatter"])
@pytest.mark.parametrize("name,model", list(_models()))
def test_onnx_export_agrees_with_pytorch(name, model, graph, tmp_path, onnx_graph):
    b = bench_onnxruntime(
        model, graph, providers=["CPUExecutionProvider"], budget_s=0.05, workdir=tmp_path, onnx_graph=onnx_graph
    )
    _shaped_right(b, graph)
    assert b.backend == "onnxruntime" and b.device == "cpu" and b.providers == "CPUExecutionProvider"
    assert b.max_abs_diff < 1e-4 and b.model_bytes > 0 and b.setup_s > 0
    assert "exporter" in b.note
    # auto takes the sparse form where every layer supports it; GAT's attention does not, and says so
    expected = "sparse" if onnx_graph == "auto" and name != "gat" else "scatter"
    assert b.onnx_graph == expected
    if name == "gat" and onnx_graph == "auto":
        assert "not used" in b.note and "GATConv" in b.note


def _sparse_models():
    from torch_geometric.nn import GCNConv, GraphConv, SAGEConv
    from torch_geometric.nn.models import GCN, GIN, GraphSAGE

    class Stack(torch.nn.Module):
        def __init__(self, *convs):
            super().__init__()
            self.convs = torch.nn.ModuleList(convs)

        def forward(self, x, edge_index):
            for i, conv in enumerate(self.convs):
                x = conv(x, edge_index)
                x = x.relu() if i < len(self.convs) - 1 else x
            return x

    torch.manual_seed(3)
    yield "gcn", GCN(32, 24, 2, out_channels=4)
    yield "gcn-unnormalised-no-bias", Stack(GCNConv(32, 16, normalize=False, bias=False), GCNConv(16, 4))
    yield "sage-mean", GraphSAGE(32, 24, 2, out_channels=4)
    yield (
        "sage-sum-projected-normalised",
        Stack(SAGEConv(32, 16, aggr="sum", project=True, normalize=True), SAGEConv(16, 4, root_weight=False)),
    )
    yield "gin", GIN(32, 24, 2, out_channels=4, train_eps=True)
    yield "graphconv-mean", Stack(GraphConv(32, 16, aggr="mean"), GraphConv(16, 4))


@pytest.mark.slow
@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize("name,model", list(_sparse_models()))
def test_sparse_onnx_graph_agrees_with_pytorch(name, model, graph, tmp_path, exporter):
    """The scatter-free export (SparseToDenseMatMul on a CSR adjacency) equals the PyTorch model."""
    import onnx

    model.eval()
    if name == "gin":
        with torch.no_grad():
            for m in model.modules():
                if hasattr(m, "eps"):
                    m.eps.fill_(0.3)  # a non-zero learnt eps must be exported too
    b = bench_onnxruntime(
        model,
        graph,
        providers=["CPUExecutionProvider"],
        budget_s=0.05,
        workdir=tmp_path,
        onnx_graph="sparse",
        exporter=exporter,
    )
    _shaped_right(b, graph)
    assert b.onnx_graph == "sparse" and b.max_abs_diff < 1e-4, b.note
    assert b.note.startswith(f"{exporter} exporter")  # the modern exporter works for the sparse form too
    ops = {n.op_type for n in onnx.load(str(tmp_path / "model.onnx")).graph.node}
    assert "SparseToDenseMatMul" in ops and not ops & {"ScatterElements", "ScatterND"}


def test_onnx_runtime_of_a_run_whose_passes_take_the_sparse_adjacency(graph, tmp_path):
    """Under ``--inference sparse`` the models are called with a CSR adjacency; ONNX Runtime is still fed
    ``x`` and ``edge_index``'s arrays, and checked against the run's own (sparse) pass."""
    from dataclasses import replace

    from torch_geometric.nn.models import GCN

    torch.manual_seed(0)
    sparse = replace(graph, adjacency="sparse")
    b = bench_onnxruntime(GCN(32, 24, 2, out_channels=4).eval(), sparse, providers=["CPUExecutionProvider"],
                          budget_s=0.05, workdir=tmp_path)  # fmt: skip
    _shaped_right(b, graph)
    assert b.onnx_graph == "sparse" and b.max_abs_diff < 1e-4, b.note
    from gnneval.bench.onnx_sparse import CsrAdjacency
    from gnneval.model.forward import sparse_adjacency

    ort_adj, run_adj = CsrAdjacency(sparse), sparse_adjacency(sparse)  # one copy of the adjacency, not two
    assert np.shares_memory(ort_adj.cols, run_adj.col_indices().numpy())
    assert np.array_equal(ort_adj.values, np.ones(graph.data.num_edges, np.float32))  # a simple graph's counts


def test_sparse_onnx_graph_refused_with_the_reason(graph, tmp_path):
    from torch_geometric.nn.models import GAT, GCN
    from torch_geometric.utils import add_self_loops

    b = bench_onnxruntime(
        GAT(32, 8, 2, out_channels=4).eval(),
        graph,
        providers=["CPUExecutionProvider"],
        budget_s=0.05,
        workdir=tmp_path,
        onnx_graph="sparse",
    )
    assert b.status == "failed" and "GATConv" in b.note and "--onnx-graph auto or scatter" in b.note
    looped = GraphData("sbm", "node-classification", graph.data.clone(), 32, 4, "generated")
    looped.data.edge_index = add_self_loops(graph.data.edge_index)[0]
    b = bench_onnxruntime(
        GCN(32, 8, 2, out_channels=4).eval(),
        looped,
        providers=["CPUExecutionProvider"],
        budget_s=0.05,
        workdir=tmp_path,
    )
    assert b.status == "ok" and b.onnx_graph == "scatter" and "self-loops" in b.note


def test_a_disagreeing_sparse_export_falls_back_to_scatter(graph, tmp_path, monkeypatch):
    from torch_geometric.nn.models import GCN

    from gnneval.bench import onnx_sparse

    real = onnx_sparse.export_sparse

    def wrong(model, graph, path, exporter):
        model = copy.deepcopy(model)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        return real(model, graph, path, exporter)

    monkeypatch.setattr(onnx_sparse, "export_sparse", wrong)
    b = bench_onnxruntime(
        GCN(32, 8, 2, out_channels=4).eval(),
        graph,
        providers=["CPUExecutionProvider"],
        budget_s=0.05,
        workdir=tmp_path,
        exporter="torchscript",
    )
    assert b.status == "ok" and b.onnx_graph == "scatter" and b.max_abs_diff < 1e-4
    assert "sparse export with the" in b.note and "disagreed with PyTorch" in b.note


@pytest.mark.parametrize("onnx_graph", ["scatter", "sparse"])
def test_structured_pruned_gcn_exports_and_agrees(graph, tmp_path, onnx_graph):
    from torch_geometric.nn.models import GCN

    torch.manual_seed(1)
    dense = GCN(32, 32, 2, out_channels=4).eval()
    pruned = (
        build_plugin_host()
        .registry.get("pruner", "structured")
        .obj()
        .prune(copy.deepcopy(dense), 0.5, PruneContext(graph, "gcn", seed=0))
        .model
    )
    b = bench_onnxruntime(
        pruned,
        graph,
        providers=["CPUExecutionProvider"],
        budget_s=0.05,
        workdir=tmp_path,
        exporter="torchscript",
        onnx_graph=onnx_graph,
    )
    _shaped_right(b, graph)
    assert b.max_abs_diff < 1e-4 and "torchscript exporter" in b.note and b.onnx_graph == onnx_graph


def test_a_disagreeing_export_is_flagged_not_timed(graph, tmp_path, monkeypatch):
    from torch_geometric.nn.models import GCN

    monkeypatch.setattr("gnneval.bench.backends.EXPORT_TOLERANCE", -1.0)  # any difference now counts as disagreement
    b = bench_onnxruntime(
        GCN(32, 8, 2, out_channels=4).eval(),
        graph,
        providers=["CPUExecutionProvider"],
        budget_s=0.05,
        workdir=tmp_path,
        exporter="torchscript",
    )
    assert (
        b.status == "mismatch" and b.onnx_graph == "scatter"
    )  # the sparse form disagreed too, then scatter and b.runs == 0 and math.isnan(b.median_ms)
    assert "disagree" in b.note and "not timed" in b.note


def test_forced_unavailable_provider_is_reported_and_cpu_used():
    with collecting() as problems:
        chosen = choose_providers("cpu", ["ROCMExecutionProvider"])
    assert chosen == ["CPUExecutionProvider"]
    assert len(problems) == 1 and "ROCMExecutionProvider is not available" in problems[0].message
    with collecting() as problems:
        assert choose_providers("cpu", None) == ["CPUExecutionProvider"]
    assert not problems


@pytest.mark.gpu
def test_cuda_provider_that_cannot_run_is_reported(graph, tmp_path):
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("this onnxruntime build has no CUDA provider")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the CUDA provider runs here")
    from torch_geometric.nn.models import GCN

    with collecting() as problems:
        b = bench_onnxruntime(
            GCN(32, 8, 2, out_channels=4).eval(),
            graph,
            budget_s=0.05,
            workdir=tmp_path,
            providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
            exporter="torchscript",
        )
    assert b.status == "ok" and b.providers == "CPUExecutionProvider"  # the CPU figures still come out
    assert any("CUDAExecutionProvider was asked for but could not be used" in p.message for p in problems)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the CUDA timing path runs where one is")
def test_cuda_eager_timing(graph):
    from torch_geometric.nn.models import GCN

    b = bench_torch(GCN(32, 8, 2, out_channels=4).eval(), graph, device="cuda", budget_s=0.05)
    _shaped_right(b, graph)
    assert b.device == "cuda" and "CUDA max allocated" in b.note


@pytest.mark.slow
def test_torch_compile_backend(graph):
    from torch_geometric.nn.models import GCN

    (b,) = run_backends(
        GCN(32, 8, 2, out_channels=4).eval(),
        graph,
        BenchSettings(backends=("torch-compile",), budget_s=0.05),
        device="cpu",
    )
    if b.status != "ok":
        pytest.skip(f"torch.compile cannot build here: {b.note}")
    _shaped_right(b, graph)
    assert b.backend == "torch-compile" and b.setup_s > 0


def test_bench_command_and_cuda_fallback(sbm_checkpoint, capsys):
    from gnneval.cli import main

    assert (
        main(
            [
                "bench",
                str(sbm_checkpoint),
                "--backends",
                "torch,onnxruntime",
                "--onnx-exporter",
                "torchscript",
                "--bench-budget",
                "0.05",
                "--device",
                "cuda",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "onnxruntime / torch eager latency" in out
    if not torch.cuda.is_available():
        assert "cuda was asked for but no CUDA device is available; running on the CPU" in out


def test_unknown_backend_is_a_one_line_error(sbm_checkpoint, tmp_path, capsys):
    from gnneval.cli import main

    assert (
        main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "structured",
                "--backends",
                "onnx",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown benchmark backend 'onnx'" in err and "onnxruntime" in err
    assert set(BACKENDS) == {"torch", "onnxruntime", "torch-compile", "torch-sparse"}


def test_timing_is_adaptive_steady_stops_early_noisy_uses_the_budget():
    import random
    import time

    from gnneval.bench.backends import median_ci_halfwidth, time_runs

    def steady_2ms():  # a spin, not a sleep: a sleep's wake-up latency on a VM is itself noise (2.1-3.7 ms)
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:
            pass

    steady, _ = time_runs(steady_2ms, budget_s=5.0, warmup_s=0.0)
    assert 20 <= steady.size < 400  # known to ±2% long before 5 s of runs
    assert median_ci_halfwidth(steady) <= 0.02 * float(sorted(steady)[steady.size // 2])
    rng = random.Random(0)  # latencies spread uniformly over 0-4 ms: the median stays uncertain to ±5% or worse
    t0 = time.perf_counter()
    noisy, _ = time_runs(lambda: time.sleep(rng.uniform(0.0, 0.004)), budget_s=0.3, warmup_s=0.0)
    assert time.perf_counter() - t0 >= 0.3 and noisy.size >= 10  # never precise enough: the budget decides
    fixed, _ = time_runs(lambda: None, budget_s=0.05, warmup_s=0.0, precision=None, max_runs=50)
    assert fixed.size == 50


@pytest.mark.slow
def test_auto_export_tries_the_faster_exporter_first_and_remembers_what_worked(graph, tmp_path, monkeypatch):
    """``auto``: TorchScript (fast) before dynamo; a disagreeing TorchScript graph falls back to dynamo, and the
    choice that gave a correct graph is tried first next time."""
    from torch_geometric.nn.models import GCN

    from gnneval.bench import export

    model = GCN(32, 8, 2, out_channels=4).eval()
    assert export.exporter_order("auto", model, "scatter") == ("torchscript", "dynamo")
    assert export.exporter_order("dynamo", model, "scatter") == ("dynamo",)
    b = bench_onnxruntime(
        model, graph, providers=["CPUExecutionProvider"], budget_s=0.05, workdir=tmp_path, onnx_graph="scatter"
    )
    assert b.status == "ok" and "torchscript exporter" in b.note
    import torch.onnx

    original = torch.onnx.export

    def skewed(model_, inputs, path, dynamo=False, **kw):  # TorchScript's graph comes out wrong here
        original(model_, inputs, path, dynamo=dynamo, **kw)
        if not dynamo:
            import onnx

            proto = onnx.load(path)
            for init in proto.graph.initializer:
                if init.float_data or init.raw_data:
                    arr = onnx.numpy_helper.to_array(init) + 1.0
                    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
            onnx.save(proto, path)

    monkeypatch.setattr(torch.onnx, "export", skewed)
    other = GCN(32, 8, 2, out_channels=4).eval()
    monkeypatch.setattr(export, "_choice_key", lambda m, form: f"other|{form}")
    b = bench_onnxruntime(
        other, graph, providers=["CPUExecutionProvider"], budget_s=0.05, workdir=tmp_path, onnx_graph="scatter"
    )
    assert b.status == "ok" and "dynamo exporter" in b.note and "torchscript exporter disagreed" in b.note
    assert export.exporter_order("auto", other, "scatter") == ("dynamo", "torchscript")


def test_a_very_long_onnx_runtime_pass_is_timed_on_its_check_run(graph, tmp_path, monkeypatch):
    """Where the check's run takes over VERY_LONG_PASS_S (ONNX Runtime's sparse form takes ~1 min at
    ogbn-products' size), that run is the measurement: not run again, a variant not paired, said in the note."""
    import math

    from torch_geometric.nn.models import GCN

    import gnneval.bench.paired as paired
    from gnneval.bench.backends import Reference

    monkeypatch.setattr(paired, "VERY_LONG_PASS_S", 0.0)
    torch.manual_seed(0)
    model = GCN(32, 24, 2, out_channels=4).eval()
    kw = {"providers": ["CPUExecutionProvider"], "budget_s": 0.05, "onnx_graph": "sparse"}
    dense = bench_onnxruntime(model, graph, workdir=tmp_path / "d", **kw)
    assert dense.status == "ok" and dense.runs == 1 and dense.warmup == 0, dense.note
    assert "timed on the check's run; 1 timed run (the first call, no warm-up)" in dense.note
    ref = Reference(model, graph, None, lambda: None, 2 * dense.median_ms)
    v = bench_onnxruntime(copy.deepcopy(model), graph, workdir=tmp_path / "v", reference=ref, **kw)
    assert v.runs == 1 and v.paired_runs == 0 and v.speedup == pytest.approx(2 * dense.median_ms / v.median_ms)
    assert math.isnan(v.speedup_ci_low) and v.noisy and "not paired with the dense model" in v.noise
