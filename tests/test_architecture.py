"""The package's shape holds: no import cycles, built-ins only through the registry and the public API,
short functions, the public API typed and complete."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "gnneval"
LONG_FUNCTIONS = {  # function -> why it is longer than 60 lines
    "gnneval/builtin/pruners/sparse_training.py:prune": "the drop-and-grow training loop reads as one algorithm",
    "gnneval/builtin/visualisers/umap_maps.py:draw": "one figure: layout, panels and legend together",
}


LAYERS: tuple[tuple[str, ...], ...] = (
    ("gnneval.core",),  # errors, records, the plugin contract's types, hook specs, registry, defaults
    ("gnneval._plugins",),  # discovery and the plugin manager, hook reference, scaffold
    ("gnneval.load",),  # checkpoints, datasets, the pair a run evaluates
    ("gnneval.model",),  # a model on a graph: inputs, forward pass with embeddings, weights, counting
    ("gnneval.prune",),
    ("gnneval.measure",),
    ("gnneval.bench",),
    ("gnneval.store",),
    ("gnneval.show",),
    ("gnneval.run",),
    ("gnneval.plugin",),  # the public facade: re-exports only
    ("gnneval.testing", "gnneval.cli", "gnneval.__main__"),
    ("gnneval.builtin",),  # the built-in plugins: gnneval.plugin only
    ("gnneval",),  # the package itself: its version, and the old names of moved modules (MOVED_MODULES)
)
"""gnneval's packages from the bottom up: a module imports only from its own layer or those below."""


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p) for p in PKG.rglob("*.py")}


def _named_module(text: str) -> str | None:
    """The gnneval module a string names (``"gnneval.load.checkpoint"`` or ``"gnneval.load.checkpoint:FORMAT"``)."""
    name = text.partition(":")[0]
    return name if name in MODULES else None


def _imports(path: Path) -> set[str]:
    """Every gnneval module ``path`` imports, at module level, inside functions, for type checkers only, or
    lazily through a table of module names (a dict's values, ``importlib.import_module``'s argument)."""
    tree = ast.parse(path.read_text())
    me = _module_name(path)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else None
            if base:
                out.add(base)
                out |= {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Dict):
            out |= {v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).endswith("import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            out.add(str(node.args[0].value))
    named = {_named_module(m) for m in out if isinstance(m, str) and m.startswith("gnneval")}
    return {m for m in named if m and m != me}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PKG.rglob("*.py")}


def _layer(module: str) -> int:
    best = -1, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if module == name or (module.startswith(name + ".") and name != "gnneval"):
                best = max(best, (len(name), i))
    if best[1] < 0 and module.startswith("gnneval"):
        best = 0, [i for i, names in enumerate(LAYERS) if "gnneval" in names][0]
    return best[1]


def test_every_module_has_a_layer():
    top_level = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    placed = {n.split(".")[1] for names in LAYERS for n in names if "." in n}
    assert top_level <= placed | {"__main__"}, f"packages without a layer in LAYERS: {top_level - placed}"


def test_imports_only_go_down():
    """Ordered layers (LAYERS): the bottom imports nothing above it, stages in pipeline order, the facade on
    top; every import counts — function-level, TYPE_CHECKING, and lazy tables of module names."""
    upward = []
    for mod, deps in sorted(_graph().items()):
        for dep in sorted(deps):
            if _layer(dep) > _layer(mod):
                upward.append(f"{mod} -> {dep}")
    assert not upward, "imports that go up a layer (see LAYERS):\n  " + "\n  ".join(upward)


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1 and not (n.startswith(m + ".") or m.startswith(n + ".")):
                cycle = stack[stack.index(n) :] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


PUBLIC = ("gnneval.plugin", "gnneval.plugin.helpers")


def _plugin_package(module: str) -> str:
    """``gnneval.builtin.<kind>.<plugin>`` (a built-in plugin may import its own modules)."""
    return ".".join(module.split(".")[:4])


def test_builtins_and_plugin_distributions_import_only_the_public_api():
    """Every gnneval import of a built-in plugin (and of each distribution under plugins/) is the public API
    or the plugin's own package."""
    bad = []
    for mod, deps in sorted(_graph().items()):
        if mod.startswith("gnneval.builtin."):
            own = _plugin_package(mod)
            bad += [f"{mod} -> {d}" for d in deps if d not in PUBLIC and d != own and not d.startswith(own + ".")]
        elif mod != "gnneval" and any(d.startswith("gnneval.builtin") for d in deps):  # gnneval: MOVED_MODULES
            bad.append(f"{mod} imports a built-in plugin ({sorted(deps)}); use the registry")
    for path in (REPO / "plugins").glob("*/src/**/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.module
                else []
            )
            bad += [f"{path.relative_to(REPO)} -> {n}" for n in names if n.startswith("gnneval") and n not in PUBLIC]
    assert not bad, "imports outside the public API:\n  " + "\n  ".join(bad)


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, its signature and docstring left out (ruff format puts one argument per line)."""
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    return 0 if not body else body[-1].end_lineno - body[0].lineno + 1


def test_functions_are_short():
    long = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key = f"{path.relative_to(REPO)}:{node.name}"
                if _body_lines(node) > 60 and key not in LONG_FUNCTIONS:
                    long.append(f"{key} ({_body_lines(node)} lines)")
    assert not long, "function bodies over 60 lines: " + ", ".join(long)


def test_public_api_is_complete_and_typed():
    """Two parts: gnneval.plugin (the contract) and gnneval.plugin.helpers (the toolbox), disjoint, each name
    resolvable, the helpers' TYPE_CHECKING block equal to what their one table generates."""
    import gnneval.plugin as api
    import gnneval.plugin.helpers as helpers
    from gnneval._plugins.hookdoc import helpers_block

    assert (PKG / "plugin" / "py.typed").is_file()
    for module in (api, helpers):
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert not missing, missing
        assert len(set(module.__all__)) == len(module.__all__)
    assert not set(api.__all__) & set(helpers.__all__)
    assert 35 <= len(api.__all__) <= 50, len(api.__all__)
    for name in (
        "hookimpl",
        "Pruner",
        "Metric",
        "Visualiser",
        "CheckpointLoader",
        "DatasetLoader",
        "PruneContext",
        "PruneOutcome",
        "MetricInputs",
        "RunInfo",
        "Column",
        "ChannelPruner",
        "UsageError",
        "RunResult",
        "API_VERSION",
    ):
        assert name in api.__all__, name
    for name in ("prunable_weights", "model_inputs", "train", "torch_load", "save_figure"):
        assert name in helpers.__all__, name
    source = (PKG / "plugin" / "helpers.py").read_text()
    assert helpers_block(source) in source, "run: python -m gnneval._plugins.hookdoc --helpers"


def test_old_helper_imports_still_work_with_a_deprecation_warning():
    import gnneval.plugin as api
    from gnneval.plugin.helpers import prunable_weights

    with pytest.warns(DeprecationWarning, match="gnneval.plugin.helpers"):
        assert api.prunable_weights is prunable_weights
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "try:\n    import gnneval.plugin.api\nexcept DeprecationWarning as e:\n    print('warned', e)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("warned gnneval.plugin.api is deprecated"), out.stdout + out.stderr


def test_importing_the_plugin_api_does_not_import_torch():
    code = "import gnneval.plugin, sys; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "False", out.stdout


@pytest.mark.slow
def test_style_ruff_and_mypy():
    """The style holds: ruff (pyflakes, pycodestyle, import order, annotations on the public API), ruff format,
    and mypy on the public API and what it re-exports, as configured in pyproject.toml."""
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True
    )
    assert ruff.returncode == 0, ruff.stdout[-3000:] + ruff.stderr[-1000:]
    fmt = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."], cwd=REPO,
                         capture_output=True, text=True)  # fmt: skip
    assert fmt.returncode == 0, "run `ruff format .`: " + fmt.stdout[-2000:] + fmt.stderr[-500:]
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", "/dev/null"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert mypy.returncode == 0, mypy.stdout[-3000:] + mypy.stderr[-1000:]


def test_the_core_names_no_built_in_plugin():
    """Summary columns, colours, captions and options come from what plugins declare: no string in the
    core (outside the built-ins and the testing kit) is the name of a built-in pruner, metric or visualiser."""
    from gnneval._plugins.manager import build_plugin_host

    reg = build_plugin_host().registry
    names = {
        r.name for kind in ("pruner", "metric", "visualiser") for r in reg.items(kind) if r.plugin.dist == "gnneval"
    }
    names |= {f"{n}.{k}" for n in names for k in ("test", "dense")}
    from gnneval.core.records import ROLES
    from gnneval.plugin import TASKS

    # words of the plugin API itself that happen to equal a plugin's name: a task, a column role, the
    # Pruner attribute ``structured``
    names -= set(TASKS) | set(ROLES) | {"structured"}
    found = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(("gnneval/builtin/", "gnneval/testing.py", "gnneval/_plugins/scaffold.py")):
            continue
        tree = ast.parse(path.read_text())
        modules = {id(call.args[0]) for call in ast.walk(tree) if isinstance(call, ast.Call) and call.args
                   and ast.unparse(call.func).endswith(("import_cached", "import_module"))}  # fmt: skip
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in names
                and id(node) not in modules
            ):  # a Python package's name (umap-learn is "umap") is not a plugin's
                found.append(f"{rel}:{node.lineno} {node.value!r}")
    assert not found, found


def test_every_built_in_plugin_says_what_it_is_and_what_its_options_mean():
    """What `gnneval plugins -v` shows: a one-paragraph docstring for every registered class or builder of
    gnneval and of the distributions under plugins/, a meaning for every option, and options as typed
    __init__ arguments (no options_doc, no self.options lookups)."""
    from gnneval._plugins.manager import build_plugin_host
    from gnneval.core.registry import KINDS, describe, option_docs

    registry = build_plugin_host().registry
    ours = [
        r
        for k in KINDS
        for r in registry.items(k)
        if r.plugin.dist == "gnneval" or r.plugin.dist.startswith("gnneval-")
    ]
    assert len(ours) > 40
    undocumented = [f"{r.kind} {r.name}" for r in ours if len(describe(r.obj)) < 30]
    assert not undocumented, undocumented
    unexplained = [f"{r.kind} {r.name}.{o.name}" for r in ours for o in option_docs(r.obj) if not o.help]
    assert not unexplained, unexplained
    old_style = []
    for path in [*PKG.glob("builtin/**/*.py"), *(REPO / "plugins").glob("*/src/**/*.py")]:
        text = path.read_text()
        if "options_doc" in text or "self.options" in text:
            old_style.append(str(path.relative_to(REPO)))
    assert not old_style, old_style


def test_mypy_checks_every_module_the_public_api_re_exports():
    import tomllib

    from gnneval.plugin import _LAZY
    from gnneval.plugin.helpers import HELPERS

    files = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    covered = [REPO / f for f in files]
    modules = {where.partition(":")[0] for where in HELPERS.values()} | set(_LAZY.values())
    modules |= {m for m in MODULES if m.startswith("gnneval.core.")}
    for module in sorted(modules):
        path = REPO / (module.replace(".", "/") + ".py")
        assert any(path == c or c in path.parents for c in covered), f"{module} is re-exported but not in mypy's files"


def layer_diagram() -> str:
    """The layers as a Mermaid flowchart, top (what users and plugins import) to bottom, each package with the
    first sentence of its docstring; docs/architecture.md holds it and this test keeps it current."""
    import importlib

    lines = ["```mermaid", "flowchart TB"]
    for i, names in reversed(list(enumerate(LAYERS))):
        label = []
        for name in names:
            if name == "gnneval.__main__":
                continue  # importing it runs the command line
            doc = (importlib.import_module(name).__doc__ or "").strip().split("\n\n")[0]
            first = " ".join(doc.split()).split(": ", 1)[-1].split(". ")[0].split(" — ")[0]
            text = "<br/>".join(textwrap.wrap(first.replace("`", "").replace("*", "").rstrip("."), 48))
            label.append(f"<b>{name}</b><br/>{text}")
        lines.append(f'    L{i}["{"<br/>".join(label)}"]')
    lines += [f"    L{i} --> L{i - 1}" for i in range(len(LAYERS) - 1, 0, -1)]
    lines.append("```")
    return "\n".join(lines)


def test_the_architecture_page_shows_the_layers_as_the_code_has_them():
    page = (REPO / "docs" / "architecture.md").read_text()
    assert layer_diagram() in page, "docs/architecture.md is stale: paste tests/test_architecture.py's layer_diagram()"
