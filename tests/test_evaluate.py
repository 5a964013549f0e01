"""`gnneval evaluate` end to end: on a synthetic graph and on Cora from the shared datasets."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from gnneval._plugins.manager import build_plugin_host
from gnneval.cli import main
from gnneval.load.checkpoint import sha256_file
from gnneval.plugin import Metric, Pruner, hookimpl
from gnneval.run.evaluate import EvaluateSettings, Evaluator
from gnneval.store.hdf5 import read_run

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_evaluate_sbm_end_to_end(sbm_checkpoint, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "evaluate",
            str(sbm_checkpoint),
            "--pruner",
            "structured,magnitude,random-channels",
            "--sparsity",
            "0.5,0.9",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "structured@0.50" in printed and "magnitude@0.90" in printed and "random-channels@0.50" in printed
    run = read_run(out)
    assert [v.id for v in run.variants] == [
        "dense",
        "structured@0.50",
        "structured@0.90",
        "magnitude@0.50",
        "magnitude@0.90",
        "random-channels@0.50",
        "random-channels@0.90",
    ]
    assert all(v.ok for v in run.variants), [(v.id, v.error) for v in run.variants]
    dense = run.dense
    assert dense.metrics["accuracy.test"] > 0.5
    s50 = run.variant("structured@0.50")
    assert s50.params < dense.params and s50.flops < dense.flops
    assert s50.outputs.embeddings["convs.0"].shape == (run.graph.num_nodes, 16)
    assert dense.outputs.embeddings["convs.0"].shape == (run.graph.num_nodes, 32)
    assert list(dense.outputs.embeddings) == ["convs.0", "convs.1"]
    m90 = run.variant("magnitude@0.90")
    assert m90.params == dense.params and m90.nonzero_params < 0.2 * dense.params
    assert m90.flops_sparse < m90.flops == dense.flops
    assert all(0.85 <= s <= 0.95 for s in m90.layer_sparsity.values())
    assert 0.0 <= s50.layer_metrics["convs.0"]["linear-cka.dense"] <= 1.0 + 1e-9
    assert dense.bench and dense.bench[0].runs >= 5 and dense.bench[0].median_ms > 0
    # Provenance: hash, seed, versions, plugins.
    p = run.provenance
    assert p.checkpoint_sha256 == sha256_file(sbm_checkpoint)
    assert p.seed == 0 and "torch" in p.versions and "gnneval" in p.versions
    assert p.plugins["random-channels"].startswith("gnneval-random-channels")
    # Pictures.
    for label in ("curves", "umap"):
        assert Path(run.files[label]).is_file() and Path(run.files[label]).stat().st_size > 10_000
    assert not run.problems
    # The summary of a benchmarked three-pruner run fits 80 and 120 columns, speed-ups with intervals kept.
    from test_console_summary import check_fits

    assert "x±" in check_fits(run, 80) and "x±" in check_fits(run, 120)


@pytest.mark.slow
def test_show_and_report_work_from_the_stored_file(sbm_checkpoint, tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "structured",
                "--sparsity",
                "0.5",
                "--out",
                str(out),
                "--no-progress",
                "--no-bench",
                "--visualisers",
                "curves",
            ]
        )
        == 0
    )
    (out / "accuracy_vs_sparsity.png").unlink()
    capsys.readouterr()
    assert main(["report", str(out), "--visualisers", "curves"]) == 0
    assert (out / "accuracy_vs_sparsity.png").is_file()
    assert main(["show", str(out)]) == 0
    assert "structured@0.50" in capsys.readouterr().out


class FlakyPruner(Pruner):
    """Fails at high sparsity, to show that one variant's failure loses nothing else."""

    def prune(self, model, sparsity, ctx):
        from gnneval.plugin import PruneOutcome

        if sparsity > 0.8:
            raise RuntimeError("cannot go that far")
        return PruneOutcome(model=model)


class BrokenMetric(Metric):
    def compute(self, inputs):
        raise ValueError("bad metric")


@pytest.mark.slow
def test_failures_are_isolated_and_notification_hooks_run(sbm_checkpoint, tmp_path):
    seen = []
    plugin = types.SimpleNamespace(
        gnneval_register_pruners=hookimpl(lambda register: register.add_pruner("flaky", FlakyPruner)),
        gnneval_register_metrics=hookimpl(lambda register: register.add_metric("broken", BrokenMetric)),
        gnneval_evaluate_start=hookimpl(lambda run: seen.append(("start", list(run.pruners)))),
        gnneval_variant_evaluated=hookimpl(
            lambda variant, run_dir: seen.append(("variant", variant.id, variant.status))
        ),
        gnneval_evaluate_end=hookimpl(lambda result, run_dir: seen.append(("end", len(result.variants)))),
    )

    def explode(variant, run_dir):
        raise RuntimeError("observer crashed")

    observer = types.SimpleNamespace(gnneval_variant_evaluated=hookimpl(explode))
    host = build_plugin_host(extra=[("test-plugin", plugin), ("bad-observer", observer)])
    settings = EvaluateSettings(
        checkpoint=sbm_checkpoint,
        pruners=["flaky", "structured"],
        sparsities=[0.5, 0.9],
        out_dir=tmp_path / "run",
        bench=False,
        visualisers=["curves"],
    )
    result = Evaluator(settings, host, show_progress=False).run()
    status = {v.id: v.status for v in result.variants}
    assert status == {
        "dense": "ok",
        "flaky@0.50": "ok",
        "flaky@0.90": "failed",
        "structured@0.50": "ok",
        "structured@0.90": "ok",
    }
    assert "cannot go that far" in result.variant("flaky@0.90").error
    assert "'flaky'" in result.variant("flaky@0.90").error  # the pruner is named
    wheres = " | ".join(f"{p.where}: {p.message}" for p in result.problems)
    assert "metric 'broken'" in wheres and "bad metric" in wheres
    assert "bad-observer" in wheres and "observer crashed" in wheres
    assert "accuracy.test" in result.variant("structured@0.50").metrics  # other metrics still ran
    assert seen[0] == ("start", ["flaky", "structured"])
    assert [s[1] for s in seen if s[0] == "variant"] == list(status)
    assert seen[-1] == ("end", 5)
    stored = read_run(tmp_path / "run")
    assert {v.id: v.status for v in stored.variants} == status


@pytest.mark.slow
def test_evaluate_zoo_gcn_on_cora(shared_datasets, tmp_path, capsys):
    out = tmp_path / "cora"
    before = sorted(p.name for p in (shared_datasets / "Planetoid" / "Cora").iterdir())
    code = main(
        [
            "evaluate",
            str(REPO / "zoo" / "gcn_cora.pt"),
            "--pruner",
            "structured",
            "--sparsity",
            "0.5",
            "--data-root",
            str(shared_datasets),
            "--out",
            str(out),
            "--no-progress",
            "--visualisers",
            "curves",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in (shared_datasets / "Planetoid" / "Cora").iterdir()) == before  # read-only
    run = read_run(out)
    assert run.graph.name == "Cora" and run.graph.num_nodes == 2708 and run.graph.masks["test"].sum() == 1000
    dense_acc = run.dense.metrics["accuracy.test"]
    assert dense_acc >= 0.80
    assert dense_acc == pytest.approx(run.provenance.checkpoint_metadata["recorded_scores"]["accuracy.test"], abs=1e-6)
    v = run.variant("structured@0.50")
    assert v.ok and v.params < 0.55 * run.dense.params and v.flops < 0.55 * run.dense.flops
    assert v.outputs.embeddings["convs.0"].shape == (2708, 32)
    assert np.isfinite(v.metrics["accuracy.test"])
    assert "Cora" in capsys.readouterr().out
