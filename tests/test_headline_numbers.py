"""Headline numbers a researcher can publish: the test accuracy with its bootstrap interval and its number of
test items, the majority-class baseline beside it, and a named warning when the dense model does not beat it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gnneval.core.records import GraphArrays, VariantOutputs
from gnneval.plugin import MetricInputs


def _inputs(y: np.ndarray, pred: np.ndarray, train: np.ndarray, test: np.ndarray, bootstrap: int = 2000):
    n = len(y)
    graph = GraphArrays("t", "node-classification", y, {"train": train, "val": np.zeros(n, bool), "test": test},
                        np.zeros((2, 0), np.int64), int(y.max()) + 1, 4)  # fmt: skip
    out = VariantOutputs(logits=np.eye(int(y.max()) + 1)[pred], predictions=pred, embeddings={})
    return MetricInputs(graph=graph, variant=out, dense=None, seed=0, bootstrap=bootstrap)


def test_accuracy_has_a_bootstrap_interval_its_n_and_the_majority_baseline():
    from gnneval.builtin.metrics.task import Accuracy

    n = 800
    y = np.array([0, 1] * (n // 2))
    y[: n // 4] = 0  # class 0 is the majority: 5/8 of the items
    test = np.arange(n) >= n // 2
    train = ~test
    pred = y.copy()
    pred[n // 2 :: 2] = 1 - pred[n // 2 :: 2]  # half of the test items wrong
    out = Accuracy().compute(_inputs(y, pred, train, test))
    assert out["test"] == pytest.approx(0.5) and out["test_n"] == n // 2
    # hand-computed: a mean of 400 Bernoulli(0.5) items has sd sqrt(0.25 / 400) = 0.025; 95%: +-1.96 sd
    assert out["test_ci_low"] == pytest.approx(0.5 - 1.96 * 0.025, abs=0.012)
    assert out["test_ci_high"] == pytest.approx(0.5 + 1.96 * 0.025, abs=0.012)
    majority = int(np.bincount(y[train]).argmax())
    assert out["test_majority"] == pytest.approx(float((y[test] == majority).mean()))
    all_right = Accuracy().compute(_inputs(y, y.copy(), train, test))
    assert all_right["test"] == all_right["test_ci_low"] == all_right["test_ci_high"] == 1.0


@pytest.mark.slow
def test_a_model_that_predicts_one_class_is_flagged(tmp_path, capsys):
    from conftest import train_sbm_checkpoint

    from gnneval.cli import main
    from gnneval.store.hdf5 import read_run

    path = train_sbm_checkpoint(tmp_path / "one_class.pt", epochs=5)
    ckpt = torch.load(path, weights_only=True)
    state = ckpt["state_dict"]
    last = sorted(k for k in state if k.endswith("lin.weight"))[-1]
    state[last].zero_()  # the last layer ignores its input ...
    bias = last.replace("lin.weight", "bias")
    state[bias].zero_()
    run_dir = tmp_path / "run"
    # ... and answers the training majority class, whatever the node
    from gnneval.builtin.datasets.synthetic import make_sbm

    data = make_sbm(seed=0)
    majority = int(np.bincount(data.y[data.train_mask].numpy()).argmax())
    state[bias][majority] = 5.0
    torch.save(ckpt, path)
    argv = ["evaluate", str(path), "--pruner", "magnitude", "--sparsity", "0.5", "--no-bench", "--no-progress",
            "--out", str(run_dir), "--visualisers", "curves", "--metrics", "accuracy"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "not above the majority-class rate" in err
    run = read_run(run_dir)
    assert any(p.where == "baseline" and "majority-class rate" in p.message for p in run.problems)


@pytest.mark.slow
def test_mutag_shows_its_twenty_test_graphs(shared_datasets, tmp_path, capsys):
    from pathlib import Path

    from gnneval.cli import main

    zoo = Path(__file__).resolve().parents[1] / "zoo" / "gin_mutag.pt"
    argv = ["evaluate", str(zoo), "--pruner", "magnitude", "--sparsity", "0.5", "--no-bench", "--no-progress",
            "--data-root", str(shared_datasets), "--out", str(tmp_path / "run"), "--visualisers", "curves",
            "--metrics", "accuracy,agreement"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "n = 20 test items" in printed and "±" in printed


def test_link_prediction_auc_has_an_interval_its_n_and_chance():
    """The bootstrap interval of the test ROC-AUC agrees with Hanley & McNeil's (1982) standard error."""
    from gnneval.builtin.metrics.link_prediction import LinkPrediction
    from gnneval.core.records import GraphArrays, VariantOutputs

    rng = np.random.default_rng(0)
    n, d = 400, 8
    z = rng.normal(size=(n, d))
    pos = rng.integers(0, n, (2, 500))
    neg = rng.integers(0, n, (2, 500))
    z[pos[1]] = 0.6 * z[pos[0]] + 0.8 * z[pos[1]]  # positives' endpoints correlate
    index = np.concatenate([pos, neg], axis=1)
    label = np.r_[np.ones(500), np.zeros(500)].astype(np.int64)
    graph = GraphArrays("t", "link-prediction", np.zeros(n, np.int64), {}, np.zeros((2, 0), np.int64), 1, d,
                        link={"test": (index, label)})  # fmt: skip
    out = VariantOutputs(logits=z.astype(np.float32), predictions=np.zeros(n, np.int64), embeddings={})
    vals = LinkPrediction().compute(MetricInputs(graph=graph, variant=out, dense=None, seed=0, bootstrap=2000))
    auc = vals["test_auc"]
    assert vals["test_auc_n"] == 1000 and vals["test_auc_chance"] == 0.5
    assert vals["test_auc_ci_low"] < auc < vals["test_auc_ci_high"]
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = np.sqrt((auc * (1 - auc) + 499 * (q1 - auc**2) + 499 * (q2 - auc**2)) / (500 * 500))
    assert vals["test_auc_ci_high"] - vals["test_auc_ci_low"] == pytest.approx(2 * 1.96 * se, rel=0.25)
