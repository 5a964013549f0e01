"""Plugin discovery through entry points, isolation of broken plugins, and the registry."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from gnneval._plugins.manager import build_plugin_host
from gnneval.plugin import Metric, Pruner, hookimpl

REPO = Path(__file__).resolve().parents[1]
BUILTIN = {
    "pruner": {"structured", "magnitude"},
    "checkpoint-loader": {"native"},
    "dataset-loader": {"planetoid", "sbm"},
    "architecture": {"gcn", "sage", "gat", "gin"},
    "metric": {"accuracy", "macro-f1", "agreement", "linear-cka"},
    "visualiser": {"curves", "umap"},
}


def test_builtins_are_found_through_entry_points():
    host = build_plugin_host()
    assert not host.problems, host.problems
    for kind, names in BUILTIN.items():
        for name in names:
            reg = host.registry.get(kind, name)
            assert reg.plugin.dist == "gnneval", (kind, name, reg.plugin)
    assert host.plugins["structured"].module == "gnneval.builtin.pruners.structured"


def test_no_plugin_manager_at_import_time():
    code = "import gnneval, gnneval._plugins.manager, gnneval.cli, gnneval.core.contract, sys; print('pluggy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() in ("True", "False")  # importing is fine; building happens only on demand


def _make_dist(root: Path, dist: str, entry: str, module: str, source: str) -> None:
    """A real installed distribution on sys.path: a module plus a .dist-info with an entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[gnneval]\n{entry} = {module}\n")


def test_broken_plugin_is_reported_by_name_and_others_still_load(tmp_path, monkeypatch):
    _make_dist(tmp_path, "gnneval-broken", "broken", "gnneval_broken_mod", "raise RuntimeError('needs libfoo')\n")
    _make_dist(tmp_path, "gnneval-optional", "optional", "gnneval_optional_mod", "import libfoo_not_installed\n")
    _make_dist(
        tmp_path,
        "gnneval-good",
        "good",
        "gnneval_good_mod",
        """
        from gnneval.plugin import Pruner, PruneOutcome, hookimpl
        class Keep(Pruner):
            def prune(self, model, sparsity, ctx):
                return PruneOutcome(model=model)
        @hookimpl
        def gnneval_register_pruners(register):
            register.add_pruner("keep-all", Keep)
    """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    host = build_plugin_host()
    broken = host.plugins["broken"]
    assert broken.status == "failed" and broken.dist == "gnneval-broken" and "needs libfoo" in broken.error
    assert any("gnneval-broken 1.2.3" in p.where and "needs libfoo" in p.message for p in host.problems)
    optional = host.plugins["optional"]
    assert optional.status == "unavailable" and optional.error == "needs 'libfoo_not_installed', which is not installed"
    assert host.registry.get("pruner", "keep-all").plugin.dist == "gnneval-good"
    assert "structured" in host.registry.names("pruner")


def test_unavailable_plugin_shows_in_gnneval_plugins_without_breaking_the_cli(tmp_path):
    _make_dist(tmp_path, "gnneval-optional", "optional", "gnneval_optional_mod", "import libfoo_not_installed\n")
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path), "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "gnneval", "plugins"], capture_output=True, text=True, env=env)
    assert out.returncode == 0
    assert "optional" in out.stdout and "unavailable" in out.stdout and "libfoo_not_installed" in out.stdout
    assert "structured" in out.stdout


def test_trace_hooks():
    lines = []
    host = build_plugin_host(only=["structured", "magnitude"], trace=lines.append)
    assert any(line.startswith("load plugin 'structured' from gnneval") for line in lines)
    assert any("hook gnneval_register_pruners(register=PrunerRegister) -> plugin 'magnitude'" in line for line in lines)
    assert any("<- plugin 'magnitude' (gnneval 0.1.0) returned NoneType" in line for line in lines)
    host.call_each("gnneval_evaluate_start", settings=None)  # no implementations: nothing traced, no error
    out = subprocess.run(
        [sys.executable, "-m", "gnneval", "--trace-hooks", "--plugins", "structured", "plugins"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "hook gnneval_register_pruners" in out.stderr
    assert "pruner: magnitude" not in out.stdout


def test_gnneval_plugins_lists_distribution_version_and_registrations():
    out = subprocess.run([sys.executable, "-m", "gnneval", "plugins"], capture_output=True, text=True, check=True)
    assert "random-channels" in out.stdout and "gnneval-random-channels 0.1.0" in out.stdout
    assert "pruner: structured" in out.stdout


def test_gnneval_plugins_and_help_do_not_import_heavy_libraries():
    code = (
        "import sys; from gnneval.cli import main; main(['plugins']); "
        "heavy = [m for m in ('torch', 'torch_geometric', 'onnxruntime', 'umap', 'h5py', 'matplotlib') "
        "if m in sys.modules]; print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout


class _P(Pruner):
    def prune(self, model, sparsity, ctx):  # pragma: no cover - never called
        raise NotImplementedError


def test_duplicate_names_are_reported_naming_both_plugins():
    a = types.SimpleNamespace(gnneval_register_pruners=hookimpl(lambda register: register.add_pruner("dup", _P)))
    b = types.SimpleNamespace(gnneval_register_pruners=hookimpl(lambda register: register.add_pruner("dup", _P)))
    host = build_plugin_host(use_entry_points=False, extra=[("first", a), ("second", b)])
    # pluggy's order: the plugin registered last is called first and keeps the name
    assert host.registry.get("pruner", "dup").plugin.name == "second"
    msgs = [p.message for p in host.problems]
    assert any("'first'" in m and "'second'" in m and "registered by both" in m for m in msgs), msgs


def test_raising_register_hook_is_isolated():
    def boom(register):
        raise RuntimeError("kaput")

    bad = types.SimpleNamespace(gnneval_register_metrics=hookimpl(boom))
    good = types.SimpleNamespace(
        gnneval_register_metrics=hookimpl(
            lambda register: register.add_metric("fine", type("Fine", (Metric,), {"compute": lambda s, i: {}}))
        )
    )
    host = build_plugin_host(use_entry_points=False, extra=[("bad", bad), ("good", good)])
    assert host.plugins["bad"].status == "failed"
    assert any(
        "'bad'" in p.where and "gnneval_register_metrics raised RuntimeError: kaput" in p.message for p in host.problems
    )
    assert host.registry.names("metric") == ["fine"]


@pytest.mark.parametrize(
    "name,obj,needle",
    [
        ("Bad Name", _P, "names are 1-32 characters"),
        ("not-a-pruner", int, "expected a subclass of gnneval.plugin.Pruner"),
    ],
)
def test_bad_registrations_are_reported(name, obj, needle):
    p = types.SimpleNamespace(gnneval_register_pruners=hookimpl(lambda register: register.add_pruner(name, obj)))
    host = build_plugin_host(use_entry_points=False, extra=[("p", p)])
    assert host.registry.names("pruner") == []
    assert any(needle in pr.message for pr in host.problems), host.problems


def test_registering_hooks_cover_every_kind():
    mods = {}
    calls = []
    for hook, method in [
        ("gnneval_register_architectures", "add_architecture"),
        ("gnneval_register_checkpoint_loaders", "add_checkpoint_loader"),
        ("gnneval_register_dataset_loaders", "add_dataset_loader"),
        ("gnneval_register_pruners", "add_pruner"),
        ("gnneval_register_metrics", "add_metric"),
        ("gnneval_register_visualisers", "add_visualiser"),
    ]:
        mods[hook] = hookimpl(lambda register, method=method: calls.append(hasattr(register, method)))
    host = build_plugin_host(use_entry_points=False, extra=[("all", types.SimpleNamespace(**mods))])
    assert calls == [True] * 6 and not host.problems


def test_disable_plugins_by_flag_and_environment(monkeypatch):
    host = build_plugin_host(disabled=["magnitude"])
    assert host.plugins["magnitude"].status == "disabled"
    assert "magnitude" not in host.registry.names("pruner")
    monkeypatch.setenv("GNNEVAL_DISABLE_PLUGINS", "umap,curves,tsne,quality-plots,similarity-maps,explorer")
    host = build_plugin_host()
    assert host.registry.names("visualiser") == []


def test_only_named_plugins():
    host = build_plugin_host(only=["structured", "nope"])
    assert host.registry.names("pruner") == ["structured", "hybrid"]
    assert any("'nope'" in p.where for p in host.problems)


@pytest.mark.slow
@pytest.mark.parametrize("visualisers,numba_wanted", [("curves", False), ("umap", True)])
def test_imports_only_where_used(sbm_checkpoint, tmp_path, visualisers, numba_wanted):
    """``--no-bench`` never imports onnxscript or onnxruntime; numba (which torch_geometric would import at
    start-up) is imported only when the UMAP visualiser runs."""
    code = (
        "import sys; from gnneval.cli import main; "
        f"rc = main(['evaluate', {str(sbm_checkpoint)!r}, '--pruner', 'magnitude', '--sparsity', '0.5', "
        f"'--no-bench', '--no-progress', '--metrics', 'accuracy', '--visualisers', {visualisers!r}, "
        f"'--out', {str(tmp_path / 'run')!r}]); "
        "print('RC', rc, 'LOADED', sorted(m for m in ('numba', 'onnxscript', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert "RC 0" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"LOADED {['numba'] if numba_wanted else []}" in out.stdout, out.stdout[-500:]


def test_plugins_load_after_the_importlib_metadata_backport():
    """MLflow imports the ``importlib_metadata`` backport, after which ``distributions()`` yields the backport's
    EntryPoint class: the plugins must still load (they registered nothing, silently, before)."""
    pytest.importorskip("importlib_metadata")
    import importlib_metadata  # noqa: F401

    from gnneval._plugins.manager import build_plugin_host

    host = build_plugin_host()
    assert "magnitude" in host.registry.names("pruner") and "mlflow" in host.registry.names("tracker")
