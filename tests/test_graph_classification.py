"""Graph classification end to end: a GIN graph classifier on the synthetic graph set, through
`gnneval evaluate` with structured, magnitude and sparse-training pruning, ONNX Runtime and the report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnneval.plugin import DatasetRef, GraphData


@pytest.fixture(scope="module")
def gin_checkpoint(tmp_path_factory):
    from gnneval.builtin.architectures.graph_classifier import build_graph_classifier
    from gnneval.builtin.datasets.synthetic import make_graph_classification
    from gnneval.prune.training import train
    from gnneval.store.checkpoints import save_checkpoint

    graph = GraphData("sbm", "graph-classification", make_graph_classification(graphs=120, seed=0), 8, 2, "generated")
    kwargs = {"in_channels": 8, "hidden_channels": 16, "out_channels": 2, "num_layers": 2}
    torch.manual_seed(0)
    model = build_graph_classifier(**kwargs)
    train(model, graph, epochs=80, patience=80, seed=0)
    d = graph.data
    model.eval()
    with torch.no_grad():
        pred = model(d.x, d.edge_index, d.batch).argmax(1)
    acc = float((pred[d.test_mask] == d.y[d.test_mask]).float().mean())
    path = tmp_path_factory.mktemp("gc") / "gin_graphs.pt"
    return save_checkpoint(
        path,
        model=model,
        architecture="graph-classifier",
        architecture_kwargs=kwargs,
        task="graph-classification",
        dataset=DatasetRef("sbm", loader="sbm", options={"task": "graph-classification", "graphs": 120}),
        metrics={"test_accuracy": acc},
        training={"seed": 0},
    )


def test_graph_classifier_learns_the_structure(gin_checkpoint):
    raw = torch.load(gin_checkpoint, weights_only=True)
    assert raw["metrics"]["test_accuracy"] >= 0.8  # classes differ only in average degree


@pytest.mark.slow
def test_evaluate_a_graph_classifier_end_to_end(gin_checkpoint, tmp_path, capsys):
    from gnneval.cli import main
    from gnneval.store.hdf5 import read_run

    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(gin_checkpoint),
                "--pruner",
                "structured,magnitude,sparse-training",
                "--sparsity",
                "0.5",
                "-o",
                "sparse-training.epochs=20",
                "--no-progress",
                "--bench-budget",
                "0.05",
                "--visualisers",
                "curves,umap",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "checkpoint check: evaluated accuracy.test" in err  # the stored per-graph accuracy is reproduced
    run = read_run(out)
    g = run.graph
    assert g.task == "graph-classification" and g.batch is not None and g.num_graphs == 120
    assert g.y.shape == (120,) and g.masks["test"].shape == (120,) and g.num_nodes == g.batch.shape[0]
    for v in run.variants:
        assert v.ok, v.error
        assert v.outputs.logits.shape == (120, 2)  # one row per graph
        assert all(e.shape[0] == g.num_nodes for e in v.outputs.embeddings.values())  # node embeddings per layer
        acc = v.metrics["accuracy.test"]
        test = g.masks["test"]
        assert acc == pytest.approx(float(np.mean(v.outputs.predictions[test] == g.y[test])))
        assert "linear-probe.test" in next(iter(v.layer_metrics.values()))  # on mean-pooled graph embeddings
        ort = next(b for b in v.bench if b.backend == "onnxruntime")
        assert ort.status == "ok" and ort.onnx_graph == "scatter" and ort.max_abs_diff < 1e-3
    structured = run.variant("structured@0.50")
    assert structured.params < run.dense.params and structured.details["check_max_abs_diff"] <= 1e-4
    assert run.variant("sparse-training@0.50").training_flops > 0
    assert list(out.glob("umap_encoder_convs_*.png")) and (out / "report.html").is_file()
