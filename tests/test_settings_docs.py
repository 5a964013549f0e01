"""Every default is written once (gnneval.core.defaults): each help string that names a default names the
code's, each command-line default equals the settings' default, and the docs' stale sentences are gone
(datasette tests its settings documentation the same way)."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from gnneval.cli import build_parser
from gnneval.core import defaults as D
from gnneval.run.settings import EvaluateSettings

REPO = Path(__file__).resolve().parents[1]


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _shown(value: object) -> set[str]:
    """The ways a help string may write ``value``."""
    if isinstance(value, (list, tuple)):
        return {D.csv(tuple(value))}
    if isinstance(value, float):
        return {f"{value:g}"}
    if isinstance(value, int) and not isinstance(value, bool):
        return {str(value), f"{value:,}", f"{value:g}"}
    return {str(value)}


EFFECTIVE = {"sparsity": D.SPARSITIES, "backends": D.DEFAULT_BACKENDS}
"""Options whose parser default is None ("not given", so a batch passes nothing on) but whose value then is this."""


def _options():
    for command, parser in _commands().items():
        for action in parser._actions:
            if (
                action.option_strings
                and action.help
                and action.default != argparse.SUPPRESS
                and not isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
            ):
                yield command, action


@pytest.mark.parametrize("command,action", list(_options()), ids=lambda x: x if isinstance(x, str) else x.dest)
def test_a_help_string_that_names_a_default_names_the_codes(command, action):
    said = re.search(r"\(default:? ([^)]*)\)", action.help)
    name = f"{command} {action.option_strings[0]}"
    if action.default is None or action.default == []:
        if said and action.dest in EFFECTIVE:
            assert said.group(1) in _shown(EFFECTIVE[action.dest]), (name, said.group(1))
        else:  # no value: the help may only describe what happens ("start a local one", "$GNNEVAL_DATA, ...")
            assert said is None or not re.fullmatch(r"[\w.,:+-]+", said.group(1)), f"{name}: names a default it lacks"
        return
    assert said, f"{name} (default {action.default!r}): say '(default ...)' in its help"
    assert said.group(1) in _shown(action.default), (name, said.group(1), action.default)


SETTING_OF = {
    "seed": "seed",
    "max_params": "max_params",
    "plugin_timeout": "plugin_timeout_s",
    "metric_sample": "metric_sample",
    "metric_nodes": "metric_nodes",
    "store_sample": "store_sample",
    "store_embeddings": "store_embeddings",
    "inference": "inference",
    "bootstrap": "bootstrap",
    "bench_budget": "bench_budget_s",
    "backends": "backends",
    "onnx_exporter": "onnx_exporter",
    "onnx_graph": "onnx_graph",
    "sparse_kernels": "sparse_kernels",
    "device": "device",
    "finetune_epochs": "finetune_epochs",
}


def test_command_line_defaults_equal_the_settings_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(EvaluateSettings)}
    evaluate = _commands()["evaluate"]
    for action in evaluate._actions:
        if action.dest in SETTING_OF:
            default = action.default
            want = fields[SETTING_OF[action.dest]]
            assert (tuple(default) if isinstance(default, list) else default) == want, action.dest
    assert fields["sparsities"] == D.SPARSITIES


def test_contexts_take_their_defaults_from_the_same_place():
    from gnneval.plugin import LoadContext, MetricInputs

    assert {f.name: f.default for f in dataclasses.fields(LoadContext)}["max_params"] == D.MAX_PARAMS
    got = {f.name: f.default for f in dataclasses.fields(MetricInputs)}
    assert (got["sample_size"], got["bootstrap"]) == (D.METRIC_SAMPLE, D.BOOTSTRAP)


def test_no_stale_exporter_sentence_anywhere():
    stale = "the dynamo exporter, the TorchScript one if that fails"
    for path in [REPO / "README.md", *REPO.glob("docs/*.md"), *REPO.glob("gnneval/**/*.py")]:
        assert stale not in path.read_text(), path
    assert D.EXPORTER_ORDER[0] in D.auto_exporter() and D.EXPORTERS[0] == "auto"
