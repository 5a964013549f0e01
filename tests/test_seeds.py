"""--seeds: every seed-dependent variant is made once per seed and every repeat stored; the console, the tidy
table and the pictures show the mean ± the sample sd (n); deterministic variants are made once and marked."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gnneval.cli import main
from gnneval.core.records import Provenance, RunResult, VariantResult
from gnneval.store.hdf5 import read_run

BASE = ["--sparsity", "0.9", "--no-bench", "--no-progress", "--visualisers", "curves,quality-curves"]


@pytest.fixture(scope="module")
def seeded_run(sbm_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("seeds") / "run"
    code = main(["evaluate", str(sbm_checkpoint), "--pruner", "random,magnitude", "--seeds", "0,1,2",
                 "--out", str(out), *BASE])  # fmt: skip
    assert code == 0
    return out


def test_three_repeats_are_stored_and_the_deterministic_pruner_runs_once(seeded_run):
    run = read_run(seeded_run)
    ids = [v.id for v in run.variants]
    assert ids == ["dense", "random@0.90~s0", "random@0.90~s1", "random@0.90~s2", "magnitude@0.90"]
    assert [run.variant(f"random@0.90~s{s}").seed for s in range(3)] == [0, 1, 2]
    assert run.variant("magnitude@0.90").deterministic and run.variant("magnitude@0.90").seed is None
    accs = [run.variant(f"random@0.90~s{s}").metrics["accuracy.test"] for s in range(3)]
    assert len(set(accs)) > 1, "three seeds of a random pruner gave one accuracy: the seed was not used"
    masks = [run.variant(f"random@0.90~s{s}").outputs.predictions for s in range(3)]
    assert not np.array_equal(masks[0], masks[1])
    assert run.seeds == [0, 1, 2]


def test_the_shown_sd_is_numpys_sample_sd(seeded_run, capsys):
    run = read_run(seeded_run)
    accs = [run.variant(f"random@0.90~s{s}").metrics["accuracy.test"] for s in range(3)]
    row = run.summarised().variant("random@0.90")
    assert row.metrics["accuracy.test"] == pytest.approx(np.mean(accs))
    spread = row.spread["accuracy.test"]
    assert spread.n == 3 and spread.sd == pytest.approx(np.std(accs, ddof=1))
    assert "accuracy.test_ci_low" not in row.metrics  # a bootstrap interval of one repeat is not averaged
    capsys.readouterr()
    assert main(["show", str(seeded_run), "--wide"]) == 0
    shown = capsys.readouterr().out
    assert f"{100 * np.mean(accs):.1f}% ±{100 * np.std(accs, ddof=1):.1f} sd (3)" in shown
    assert "once" in shown and "mean ± sample standard deviation (ddof=1) over n repeats with seeds 0, 1, 2" in shown
    assert "random@0.90~s1" not in shown  # one row per variant


def test_the_tidy_table_has_a_row_per_repeat(seeded_run, capsys):
    import json

    capsys.readouterr()
    assert main(["show", str(seeded_run), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    acc = {(r["variant"], r["seed"]): r["value"] for r in rows if r["metric"] == "accuracy.test"}
    run = read_run(seeded_run)
    for s in range(3):
        assert acc["random@0.90", s] == run.variant(f"random@0.90~s{s}").metrics["accuracy.test"]
    assert ("magnitude@0.90", 0) in acc


def test_the_curves_draw_a_band(seeded_run):
    run = read_run(seeded_run)
    assert {"curves", "quality-curves"} <= set(run.files)
    assert "the band ± the sample sd" in run.captions["curves"]


@pytest.mark.slow
def test_other_seeds_into_the_same_run_are_refused(sbm_checkpoint, seeded_run, capsys):
    before = (seeded_run / "run.h5").read_bytes()
    code = main(["evaluate", str(sbm_checkpoint), "--pruner", "random", "--seeds", "0,1", "--out", str(seeded_run),
                 *BASE])  # fmt: skip
    assert code == 2
    assert "differs in: seeds" in capsys.readouterr().err
    assert (seeded_run / "run.h5").read_bytes() == before


def _variant(vid: str, seed: int | None, acc: float, ok: bool = True) -> VariantResult:
    v = VariantResult(id=vid, pruner="random", sparsity=0.5, seed=seed, status="ok" if ok else "failed")
    v.metrics = {"accuracy.test": acc, "accuracy.test_ci_low": acc - 0.1, "accuracy.test_ci_high": acc + 0.1}
    v.layer_metrics = {"convs.0": {"linear-cka.dense": acc / 2}}
    return v


def _run(variants: list[VariantResult]) -> RunResult:
    prov = Provenance(*["x"] * 4, architecture_kwargs={}, dataset="d", dataset_loader="l", dataset_source="s",
                      task="node-classification", seed=0, device="cpu", command="", created="", versions={},
                      plugins={}, settings={"seeds": [0, 1, 2]})  # fmt: skip
    return RunResult(provenance=prov, graph=None, variants=variants)  # type: ignore[arg-type]


def test_summarised_by_hand():
    dense = VariantResult(id="dense", pruner=None, sparsity=0.0)
    reps = [_variant("random@0.50~s0", 0, 0.5), _variant("random@0.50~s1", 1, 0.7),
            _variant("random@0.50~s2", 2, 0.0, ok=False)]  # fmt: skip
    row = _run([dense, *reps]).summarised().variants[1]
    assert row.id == "random@0.50" and row.seed is None
    assert row.metrics["accuracy.test"] == pytest.approx(0.6)  # the failed repeat is left out
    assert row.spread["accuracy.test"].sd == pytest.approx(math.sqrt(0.02))
    assert row.spread["accuracy.test"].n == 2
    assert row.spread["convs.0/linear-cka.dense"].sd == pytest.approx(math.sqrt(0.005))
    assert row.details["failed_repeats"] == ["random@0.50~s2"]
    single = _run([dense, VariantResult(id="magnitude@0.50", pruner="magnitude", sparsity=0.5)])
    assert single.summarised() is single


def test_uses_seed_of_the_built_in_pruners():
    from gnneval.builtin.pruners.magnitude import MagnitudePruner, RandomPruner
    from gnneval.builtin.pruners.structured import StructuredPruner
    from gnneval.prune.variants import PruneSettings

    s = PruneSettings(seeds=(0, 1, 2))
    assert s.repeats(RandomPruner()) == (0, 1, 2)
    assert s.repeats(MagnitudePruner()) == (0,)
    assert s.repeats(StructuredPruner()) == (0,)
    assert s.repeats(StructuredPruner(criterion="random")) == (0, 1, 2)
    assert PruneSettings(seeds=(0, 1), finetune_epochs=5).repeats(MagnitudePruner()) == (0, 1)  # training is seeded


def test_seeds_refused_in_one_line(capsys):
    assert main(["evaluate", "zoo/gcn_cora.pt", "--pruner", "random", "--seeds", "0,x"]) == 2
    assert capsys.readouterr().err.strip().endswith("seed 'x' is not a whole number; give seeds such as 0,1,2")
