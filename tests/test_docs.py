"""docs/plugins.md: every hook is explained, and every worked example runs and passes the kit's contracts."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

import pytest

from gnneval._plugins.hookdoc import hook_names
from gnneval._plugins.manager import build_plugin_host
from gnneval.testing import (
    check_architecture,
    check_checkpoint_loader,
    check_dataset_loader,
    check_metric,
    check_pruner,
    check_tracker,
    check_visualiser,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def examples() -> dict[str, types.ModuleType]:
    mods = {}
    for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S):
        first = block.splitlines()[0]
        if not first.startswith("# gnneval_"):
            continue
        name = first[2:].removesuffix(".py")
        mod = types.ModuleType(name)
        exec(compile(block, f"docs/plugins.md:{name}", "exec"), mod.__dict__)  # noqa: S102 - our own docs
        mods[name] = mod
    return mods


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_explained(hook):
    assert hook in DOC.read_text()


def test_worked_examples_register_and_pass_the_contracts(gnneval_graph, gnneval_model, gnneval_run, tmp_path):
    mods = examples()
    assert set(mods) == {
        "gnneval_random_unstructured",
        "gnneval_embedding_norm",
        "gnneval_score_bars",
        "gnneval_simple_dict",
        "gnneval_ring_graphs",
        "gnneval_sage_max",
        "gnneval_jsonl_tracker",
    }
    host = build_plugin_host(use_entry_points=False, extra=list(mods.items()))
    assert not host.problems, host.problems
    reg = host.registry
    check_pruner(reg.get("pruner", "random-unstructured").obj, gnneval_graph, gnneval_model)
    check_metric(reg.get("metric", "embedding-norm").obj, gnneval_run)
    check_visualiser(reg.get("visualiser", "score-bars").obj, gnneval_run, tmp_path / "pics")
    check_checkpoint_loader(reg.get("checkpoint-loader", "simple-dict").obj, tmp_path / "junk")
    check_dataset_loader(reg.get("dataset-loader", "ring-graphs").obj, "ring-200")
    check_architecture(reg.get("architecture", "sage-max").obj, gnneval_graph)
    check_tracker(reg.get("tracker", "jsonl").obj, gnneval_run, tmp_path / "tracked")
    events = [json.loads(line)["event"] for line in (tmp_path / "tracked" / "tracking").read_text().splitlines()]
    assert events[0] == "start" and events[-1] == "finish" and events.count("variant") == len(gnneval_run.variants)


def test_docs_import_only_the_public_api():
    """Plugin authors need one public API: the docs use nothing but gnneval.plugin (the contract),
    gnneval.plugin.helpers (the toolbox) and gnneval.testing."""
    text = DOC.read_text()
    imports = set(re.findall(r"from (gnneval[\w.]*) import", text))
    assert imports <= {"gnneval.plugin", "gnneval.plugin.helpers", "gnneval.testing"}, imports


def test_every_kind_has_a_worked_example_and_a_scaffold():
    from gnneval._plugins.scaffold import CODE
    from gnneval.core.registry import HOOK_OF_KIND

    assert set(CODE) == set(HOOK_OF_KIND)
    text = DOC.read_text()
    for kind in HOOK_OF_KIND:
        assert f"## A {kind.replace('-', ' ')}" in text or f"## An {kind}" in text, kind


def test_the_readme_lists_every_built_in_visualiser():
    from gnneval._plugins.manager import build_plugin_host

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for reg in build_plugin_host().registry.items("visualiser"):
        if reg.plugin.dist == "gnneval":
            assert f"| `{reg.name}` |" in readme, f"README's table of pictures does not list '{reg.name}'"
