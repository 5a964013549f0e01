"""The package's shape holds: no import cycles, built-ins only through the registry and the public API,
short functions, the public API typed and complete."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "gnneval"
LONG_FUNCTIONS = {  # function -> why it is longer than 60 lines
    "gnneval/builtin/pruners/sparse_training.py:prune": "the drop-and-grow training loop reads as one algorithm",
    "gnneval/builtin/visualisers/umap_maps.py:draw": "one figure: layout, panels and legend together",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every gnneval module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text())
    me = _module_name(path)
    out = set()
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                   for n in ast.walk(block)}  # imports for type checkers never run
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("gnneval")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gnneval"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    modules = {_module_name(p) for p in PKG.rglob("*.py")}
    return {m for m in out if m in modules and m != me}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PKG.rglob("*.py")}


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ importing its own submodules is not a cycle through the package
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_builtins_are_reached_only_through_the_registry_and_use_only_the_public_api():
    graph = _graph()
    for mod, deps in graph.items():
        builtin_deps = {d for d in deps if d.startswith("gnneval.builtin")}
        if not mod.startswith("gnneval.builtin"):
            assert not builtin_deps, f"{mod} imports built-in plugins {builtin_deps}; use the registry"
            continue
        root = ".".join(mod.split(".")[:4])  # a plugin package (gnneval.builtin.<kind>.<plugin>) may import itself
        own_family = {d for d in builtin_deps if d != "gnneval.builtin" and d != root and not d.startswith(root + ".")
                      and not (d.count(".") <= 2)}
        assert not own_family, f"built-in {mod} imports another built-in: {own_family}; share code through gnneval.plugin"


def test_functions_are_short():
    long = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key = f"{path.relative_to(REPO)}:{node.name}"
                if node.end_lineno - node.lineno + 1 > 60 and key not in LONG_FUNCTIONS:
                    long.append(f"{key} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, "functions over 60 lines: " + ", ".join(long)


def test_public_api_is_complete_and_typed():
    import gnneval.plugin as api

    assert (PKG / "plugin" / "py.typed").is_file()
    missing = [n for n in api.__all__ if not hasattr(api, n)]
    assert not missing, missing
    assert len(set(api.__all__)) == len(api.__all__)
    for name in ("hookimpl", "Pruner", "Metric", "Visualiser", "CheckpointLoader", "DatasetLoader", "PruneContext",
                 "PruneOutcome", "MetricInputs", "RunInfo", "Column", "prunable_weights", "model_inputs", "train",
                 "torch_load", "save_figure", "ChannelPruner", "UsageError", "RunResult", "API_VERSION"):
        assert name in api.__all__, name


def test_importing_the_plugin_api_does_not_import_torch():
    code = "import gnneval.plugin, sys; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "False", out.stdout


def test_style_ruff_and_mypy():
    """The style holds: ruff (pyflakes, pycodestyle, import order, annotations on the public API) and mypy
    on gnneval.plugin, as configured in pyproject.toml."""
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO, capture_output=True,
                          text=True)
    assert ruff.returncode == 0, ruff.stdout[-3000:] + ruff.stderr[-1000:]
    mypy = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null"], cwd=REPO,
                          capture_output=True, text=True)
    assert mypy.returncode == 0, mypy.stdout[-3000:] + mypy.stderr[-1000:]


def test_the_core_names_no_built_in_plugin():
    """Summary columns, colours, captions and options come from what plugins declare: no string in the
    core (outside the built-ins and the testing kit) is the name of a built-in pruner, metric or visualiser."""
    from gnneval._plugins.manager import build_plugin_host

    reg = build_plugin_host().registry
    names = {r.name for kind in ("pruner", "metric", "visualiser") for r in reg.items(kind) if r.plugin.dist == "gnneval"}
    names |= {f"{n}.{k}" for n in names for k in ("test", "dense")}
    from gnneval.plugin import TASKS
    from gnneval.store.records import ROLES

    # words of the plugin API itself that happen to equal a plugin's name: a task, a column role, the
    # Pruner attribute ``structured``
    names -= set(TASKS) | set(ROLES) | {"structured"}
    found = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(("gnneval/builtin/", "gnneval/testing.py", "gnneval/_plugins/scaffold.py")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.append(f"{rel}:{node.lineno} {node.value!r}")
    assert not found, found
