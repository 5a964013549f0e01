"""Built-in training: masks stay fixed, runs are seeded, fine-tuning through `evaluate --finetune-epochs`."""

from __future__ import annotations

import copy

import pytest
import torch

from gnneval._plugins.manager import build_plugin_host
from gnneval.model.counting import prunable_weights
from gnneval.plugin import PruneContext
from gnneval.prune.training import train

REG = build_plugin_host().registry


def test_masked_finetuning_keeps_sparsity_exactly_and_is_seeded(gnneval_graph, gnneval_model):
    pruner = REG.get("pruner", "magnitude").obj()
    outcome = pruner.prune(copy.deepcopy(gnneval_model), 0.8, PruneContext(gnneval_graph, "gcn", seed=0))
    zeros_before = {n: int((p == 0).sum()) for n, p in prunable_weights(outcome.model)}
    a, b = copy.deepcopy(outcome.model), copy.deepcopy(outcome.model)
    ra = train(a, gnneval_graph, epochs=40, patience=40, masks=outcome.masks, seed=1)
    train(b, gnneval_graph, epochs=40, patience=40, masks=outcome.masks, seed=1)
    for (n, p), (_, q) in zip(prunable_weights(a), prunable_weights(b)):
        assert torch.equal(p, q), n  # same seed, same weights
        assert not p[~outcome.masks[n]].any(), n  # pruned weights stayed exactly zero
        assert int((p == 0).sum()) >= zeros_before[n]
    assert 1 <= ra.best_epoch <= ra.epochs <= 40 and 0.0 <= ra.best_val <= 1.0


def test_early_stopping(gnneval_graph, gnneval_model):
    model = copy.deepcopy(gnneval_model)
    res = train(model, gnneval_graph, epochs=500, patience=5, seed=0)
    assert res.epochs < 500 and res.epochs - res.best_epoch == 5


@pytest.mark.slow
def test_finetuning_recovers_accuracy_in_evaluate(sbm_checkpoint, tmp_path):
    from gnneval.cli import main
    from gnneval.store.hdf5 import read_run

    common = [
        "--pruner",
        "random",
        "--sparsity",
        "0.9",
        "--scope",
        "global",
        "--no-progress",
        "--no-bench",
        "--visualisers",
        "curves",
        "--metrics",
        "accuracy",
    ]
    assert main(["evaluate", str(sbm_checkpoint), *common, "--out", str(tmp_path / "a")]) == 0
    assert (
        main(["evaluate", str(sbm_checkpoint), *common, "--finetune-epochs", "60", "--out", str(tmp_path / "b")]) == 0
    )
    plain, tuned = read_run(tmp_path / "a"), read_run(tmp_path / "b")
    v0, v1 = plain.variant("random@0.90"), tuned.variant("random@0.90")
    assert v1.details["finetune"]["epochs"] >= 1 and v1.details["scope"] == "global"
    assert v1.weight_sparsity == pytest.approx(v0.weight_sparsity)  # the mask did not move
    assert v1.metrics["accuracy.test"] >= v0.metrics["accuracy.test"]


def test_hybrid_reaches_the_target_share_of_dense_weights(gnneval_graph, gnneval_model):
    cls = REG.get("pruner", "hybrid").obj
    dense = sum(p.numel() for _, p in prunable_weights(gnneval_model))
    for s in (0.3, 0.6, 0.9):
        out = cls().prune(copy.deepcopy(gnneval_model), s, PruneContext(gnneval_graph, "gcn", seed=0))
        nonzero = sum(int((p != 0).sum()) for _, p in prunable_weights(out.model))
        assert abs((1 - nonzero / dense) - s) <= 1 / dense + 1e-9
        assert out.details["channel_sparsity"] == pytest.approx(s / 2)


@pytest.mark.slow
def test_lottery_prunes_20_percent_per_round_to_the_exact_target(gnneval_graph, gnneval_model):
    import math

    cls = REG.get("pruner", "lottery").obj
    out = cls(epochs=60, patience=20).prune(copy.deepcopy(gnneval_model), 0.7, PruneContext(gnneval_graph, "gcn", 0))
    weights = prunable_weights(out.model)
    total = sum(p.numel() for _, p in weights)
    assert sum(int((p == 0).sum()) for _, p in weights) == round(0.7 * total)
    assert all(not p[~out.masks[n]].any() for n, p in weights)
    sp = [r["sparsity"] for r in out.details["history"]]
    assert sp[0] == 0.0 and sp[1] == pytest.approx(0.2, abs=1 / total) and sp[-1] == pytest.approx(0.7, abs=1 / total)
    assert out.details["rounds"] == math.ceil(math.log(0.3) / math.log(0.8))  # 20% of the remaining each round
    rewound = cls(epochs=30, patience=10, rewind_epoch=3).prune(
        copy.deepcopy(gnneval_model), 0.3, PruneContext(gnneval_graph, "gcn", 0)
    )
    assert rewound.details["rewind"] == "epoch 3"


def test_l1_penalty_shrinks_weights_and_train_and_prune_reaches_target(gnneval_graph, gnneval_model):
    plain, penalised = copy.deepcopy(gnneval_model), copy.deepcopy(gnneval_model)
    train(plain, gnneval_graph, epochs=30, patience=30, seed=0)
    train(penalised, gnneval_graph, epochs=30, patience=30, seed=0, l1=1e-2)
    norm = lambda m: sum(float(p.abs().sum()) for _, p in prunable_weights(m))  # noqa: E731
    assert norm(penalised) < norm(plain)
    cls = REG.get("pruner", "train-and-prune").obj
    out = cls(epochs=40, patience=20, l1=1e-4).prune(
        copy.deepcopy(gnneval_model), 0.8, PruneContext(gnneval_graph, "gcn", 0)
    )
    weights = prunable_weights(out.model)
    total = sum(p.numel() for _, p in weights)
    assert sum(int((p == 0).sum()) for _, p in weights) >= round(0.8 * total)
    assert out.details["l1"] == 1e-4 and out.details["retrain_epochs"] >= 1


def test_training_flops_are_three_forward_passes_per_step_and_masked_steps_count_active_weights(
    gnneval_graph, gnneval_model
):
    from gnneval.model.counting import count_flops

    dense_f, _ = count_flops(gnneval_model, gnneval_graph)
    res = train(copy.deepcopy(gnneval_model), gnneval_graph, epochs=7, patience=100, seed=0)
    assert res.epochs == 7 and res.flops == pytest.approx(7 * 3 * dense_f)
    out = (
        REG.get("pruner", "magnitude")
        .obj()
        .prune(copy.deepcopy(gnneval_model), 0.9, PruneContext(gnneval_graph, "gcn", seed=0))
    )
    _, sparse_f = count_flops(out.model, gnneval_graph)
    masked = train(out.model, gnneval_graph, epochs=7, patience=100, masks=out.masks, seed=0)
    assert sparse_f < dense_f and masked.flops == pytest.approx(7 * 3 * sparse_f)


@pytest.mark.parametrize("method", ["rigl", "set"])
def test_sparse_training_keeps_exact_sparsity_while_the_mask_moves(gnneval_graph, gnneval_model, method):
    cls = REG.get("pruner", "sparse-training").obj
    ctx = PruneContext(gnneval_graph, "gcn", seed=0)
    out = cls(method=method, epochs=60, patience=60, update_every=5).prune(copy.deepcopy(gnneval_model), 0.8, ctx)
    weights = prunable_weights(out.model)
    total = sum(p.numel() for _, p in weights)
    assert sum(int(m.sum()) for m in out.masks.values()) == total - round(0.8 * total)  # exact, all the way
    assert all(not p[~out.masks[n]].any() for n, p in weights)
    assert out.details["updates"] >= 5 and out.details["moved"] > 0  # drop-and-grow happened
    assert out.details["method"] == method and out.training_flops > 0
    again = cls(method=method, epochs=60, patience=60, update_every=5).prune(copy.deepcopy(gnneval_model), 0.8, ctx)
    assert all(torch.equal(out.masks[n], again.masks[n]) for n in out.masks)  # seeded


def test_rigl_pays_for_dense_gradients_and_costs_less_than_train_and_prune(gnneval_graph, gnneval_model):
    ctx = PruneContext(gnneval_graph, "gcn", seed=0)
    st = REG.get("pruner", "sparse-training").obj
    kw = dict(epochs=40, patience=1000, update_every=5)
    rigl = st(method="rigl", **kw).prune(copy.deepcopy(gnneval_model), 0.9, ctx)
    set_ = st(method="set", **kw).prune(copy.deepcopy(gnneval_model), 0.9, ctx)
    assert rigl.details["epochs"] == set_.details["epochs"] == 40
    assert rigl.training_flops > set_.training_flops  # the dense gradient at every update
    tap = (
        REG.get("pruner", "train-and-prune").obj(epochs=40, patience=1000).prune(copy.deepcopy(gnneval_model), 0.9, ctx)
    )
    assert tap.training_flops > 2 * rigl.training_flops


def test_erk_keeps_small_layers_denser_with_the_exact_total():
    from gnneval.builtin.pruners.sparse_training import layer_densities

    shapes = {"a": (64, 1433), "b": (7, 64)}
    for dist in ("erk", "uniform"):
        counts = layer_densities(shapes, 0.9, dist)
        assert sum(counts.values()) == round(0.1 * (64 * 1433 + 7 * 64))
    erk = layer_densities(shapes, 0.9, "erk")
    assert erk["b"] / (7 * 64) > erk["a"] / (64 * 1433)


def test_training_flops_reach_the_run_file(sbm_checkpoint, tmp_path):
    from gnneval.cli import main
    from gnneval.store.hdf5 import read_run

    assert (
        main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "magnitude,sparse-training",
                "--sparsity",
                "0.5",
                "-o",
                "sparse-training.epochs=20",
                "--finetune-epochs",
                "5",
                "--no-progress",
                "--no-bench",
                "--visualisers",
                "curves",
                "--metrics",
                "accuracy",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    run = read_run(tmp_path)
    mag, st = run.variant("magnitude@0.50"), run.variant("sparse-training@0.50")
    assert mag.training_flops == pytest.approx(mag.details["finetune"]["flops"]) and mag.training_flops > 0
    assert st.training_flops > st.details["finetune"]["flops"] > 0
    assert run.dense.training_flops == 0
