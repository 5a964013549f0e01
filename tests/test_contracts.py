"""Every installed plugin, built-in or not, passes the testing kit's contract checks."""

from __future__ import annotations

import pytest

from gnneval._plugins.manager import build_plugin_host
from gnneval.testing import check_checkpoint_loader, check_metric, check_pruner, check_visualiser

REG = build_plugin_host().registry


@pytest.mark.parametrize("name", REG.names("pruner"))
def test_pruner_contract(name, gnneval_graph, gnneval_model):
    check_pruner(REG.get("pruner", name).obj, gnneval_graph, gnneval_model)


@pytest.mark.parametrize("name", REG.names("metric"))
def test_metric_contract(name, gnneval_run, gnneval_link_run):
    from gnneval.measure.metrics import has_required

    cls = REG.get("metric", name).obj
    if cls.requires and not any(has_required(cls, r.graph) for r in (gnneval_run, gnneval_link_run)):
        pytest.skip(
            f"{name} needs a dataset with {', '.join(cls.requires)}: tests/test_ogb_datasets.py checks it on one"
        )
    runs = [r for r in (gnneval_run, gnneval_link_run) if cls.tasks is None or r.graph.task in cls.tasks]
    assert runs, f"metric {name} applies to no task gnneval runs: {cls.tasks}"
    for run in runs:
        check_metric(cls, run)


@pytest.mark.parametrize("name", REG.names("visualiser"))
def test_visualiser_contract(name, gnneval_run, tmp_path):
    check_visualiser(REG.get("visualiser", name).obj, gnneval_run, tmp_path)


@pytest.mark.parametrize("name", REG.names("checkpoint-loader"))
def test_checkpoint_loader_contract(name, tmp_path):
    check_checkpoint_loader(REG.get("checkpoint-loader", name).obj, tmp_path)


def test_the_kit_is_a_pytest_plugin(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("gnneval"), "gnneval.testing is not loaded through pytest11"


def test_check_pruner_catches_a_pruner_that_cheats(gnneval_graph, gnneval_model):
    from gnneval.plugin import PruneOutcome, Pruner

    class Lazy(Pruner):
        def prune(self, model, sparsity, ctx):
            return PruneOutcome(model=model)  # prunes nothing

    with pytest.raises(AssertionError, match="reached"):
        check_pruner(Lazy, gnneval_graph, gnneval_model)


def test_check_metric_catches_non_finite(gnneval_run):
    from gnneval.plugin import Metric

    class Nan(Metric):
        def compute(self, inputs):
            return {"x": float("nan")}

    with pytest.raises(AssertionError, match="returned nan"):
        check_metric(Nan, gnneval_run)


def test_check_loader_catches_a_greedy_loader(tmp_path):
    from gnneval.plugin import CheckpointLoader

    class Greedy(CheckpointLoader):
        def load(self, path, ctx):
            return object()

    with pytest.raises(AssertionError, match="claimed"):
        check_checkpoint_loader(Greedy, tmp_path)
