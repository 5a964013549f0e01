"""Implausible scores are named: a model trained on the test nodes scores far above its validation accuracy
(a warning naming the split and --split), and a model that predicts one class is flagged against the
majority-class rate; the zoo model, trained properly, raises neither."""

from __future__ import annotations

import pytest

from gnneval.cli import main
from gnneval.store.hdf5 import read_run

ARGS = ["--pruner", "magnitude", "--sparsity", "0.5", "--no-bench", "--no-progress", "--visualisers", "curves",
        "--metrics", "accuracy"]  # fmt: skip


@pytest.fixture(scope="module")
def trained_on_test_nodes(shared_datasets, tmp_path_factory):
    """A 2-layer GCN trained on Cora's public training *and test* nodes (a published model's mistake)."""

    from gnneval.builtin.datasets.planetoid import PlanetoidLoader
    from gnneval.plugin import DatasetContext, DatasetRef
    from gnneval.store.checkpoints import save_checkpoint
    from gnneval.testing import small_model

    folder = tmp_path_factory.mktemp("overlap")
    ctx = DatasetContext(root=shared_datasets, cache_dir=folder / "cache", seed=0)
    graph = PlanetoidLoader().load("Cora", ctx)
    graph.data.train_mask = graph.data.train_mask | graph.data.test_mask
    model = small_model(graph, hidden=32, epochs=150)
    graph.data.train_mask = graph.data.train_mask & ~graph.data.test_mask
    kwargs = {"in_channels": graph.num_features, "hidden_channels": 32, "out_channels": graph.num_classes,
              "num_layers": 2}  # fmt: skip
    path = folder / "gcn_on_test.pt"
    return save_checkpoint(path, model=model, architecture="gcn", architecture_kwargs=kwargs,
                           task="node-classification", dataset=DatasetRef("Cora", loader="planetoid"),
                           metrics={}, training={"seed": 0, "note": "trained on train + test nodes"})  # fmt: skip


@pytest.mark.slow
def test_a_model_trained_on_the_test_nodes_is_flagged(trained_on_test_nodes, shared_datasets, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["evaluate", str(trained_on_test_nodes), *ARGS, "--data-root", str(shared_datasets),
                 "--out", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "points above the same score on the validation items evaluated here" in err and "--split FILE" in err
    problems = {p.where: p.message for p in read_run(out).problems}
    assert "public" in problems["plausibility"]  # the split it names


def test_the_gap_must_exceed_its_standard_error():
    from gnneval.run.checks import _far_above

    assert _far_above(0.95, 1000, 0.78, 500)  # 17 points, ~2.2 points of standard error
    assert not _far_above(0.808, 1000, 0.766, 500)  # the zoo GCN: 4 points
    assert not _far_above(0.95, 20, 0.85, 20)  # 10 points on 20 graphs each: within the noise
    assert _far_above(0.95, 1000, 0.80, 0)  # against a recorded value
