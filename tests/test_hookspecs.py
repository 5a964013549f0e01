"""Meta-tests in the style of datasette: every hook is documented, typed and tested."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from gnneval.core import hookspecs

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("gnneval_")]
TESTS = Path(__file__).resolve().parent
README = Path(__file__).resolve().parents[1] / "README.md"


def test_there_are_hooks():
    assert len(HOOKS) >= 9


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    fn = getattr(hookspecs, hook)
    doc = inspect.getdoc(fn) or ""
    assert "Called" in doc, f"{hook}: say when it is called"
    params = inspect.signature(fn).parameters
    for p in params:
        assert f":param {p}:" in doc, f"{hook}: document parameter {p}"
        assert params[p].annotation is not inspect.Parameter.empty, f"{hook}: annotate {p}"
    assert ":returns:" in doc, f"{hook}: document the return value"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    others = [p for p in TESTS.glob("test_*.py") if p.name != "test_hookspecs.py"]
    assert any(hook in p.read_text() for p in others), f"no test mentions {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_in_the_readme(hook):
    assert hook in README.read_text(), f"README.md does not document {hook}"
