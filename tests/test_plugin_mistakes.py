"""Every plugin mistake that used to pass silently is now a problem that names the plugin."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from gnneval._plugins.manager import build_plugin_host
from gnneval.cli import main
from gnneval.plugin import CheckpointLoader, Column, DatasetLoader, Metric, PruneOutcome, Pruner, UsageError, hookimpl
from gnneval.plugin.helpers import prunable_weights
from gnneval.run.evaluate import EvaluateSettings, Evaluator
from gnneval.testing import check_pruner, small_graph, small_link_model

REPO = Path(__file__).resolve().parents[1]


def _host(*plugins):
    return build_plugin_host(use_entry_points=False, extra=list(plugins))


def _messages(host) -> str:
    return " | ".join(f"{p.where}: {p.message}" for p in host.problems)


class _Zero(Pruner):
    def prune(self, model, sparsity, ctx):
        return PruneOutcome(model=model)


def test_misspelt_hook_is_reported_with_the_right_name():
    plugin = types.SimpleNamespace(gnneval_register_pruner=hookimpl(lambda register: register.add_pruner("z", _Zero)))
    host = _host(("typo", plugin))
    msg = _messages(host)
    assert "plugin 'typo'" in msg and "gnneval_register_pruner'" in msg and "gnneval_register_pruners" in msg
    assert host.plugins["typo"].status == "invalid"


def test_hook_without_hookimpl_is_reported():
    plugin = types.SimpleNamespace(gnneval_register_pruners=lambda register: register.add_pruner("z", _Zero))
    host = _host(("unmarked", plugin))
    assert "without @hookimpl" in _messages(host) and "z" not in host.registry.names("pruner")


class _Loader(CheckpointLoader):
    def __init__(self, strict: bool = True) -> None:
        super().__init__(strict=strict)

    def load(self, path, ctx):
        return None


class _Datasets(DatasetLoader):
    options_doc = {"root_name": "sub-folder to read"}

    def names(self):
        return ["mine"]

    def load(self, name, ctx):
        raise UsageError("not here")


def _arch(in_channels, out_channels):
    return None


@pytest.mark.parametrize(
    "method, obj, options",
    [
        ("add_checkpoint_loader", _Loader, {"strickt": False}),
        ("add_dataset_loader", _Datasets, {"rootname": "x"}),
        ("add_architecture", _arch, {"hidden": 3}),
    ],
)
def test_registration_options_the_class_does_not_accept_are_reported(method, obj, options):
    hook = {
        "add_checkpoint_loader": "gnneval_register_checkpoint_loaders",
        "add_dataset_loader": "gnneval_register_dataset_loaders",
        "add_architecture": "gnneval_register_architectures",
    }[method]
    plugin = types.SimpleNamespace(
        **{hook: hookimpl(lambda register: getattr(register, method)("thing", obj, **options))}
    )
    host = _host(("opts", plugin))
    msg = _messages(host)
    assert "plugin 'opts'" in msg and "does not accept" in msg and next(iter(options)) in msg


def test_registration_options_reach_loaders_and_architectures():
    seen = {}

    class Recording(CheckpointLoader):
        def __init__(self, flavour: str = "plain") -> None:
            super().__init__(flavour=flavour)
            seen["flavour"] = flavour

        def load(self, path, ctx):
            return None

    def build(scale: int = 1, **kwargs):
        seen["scale"] = scale
        return object()

    plugin = types.SimpleNamespace(
        gnneval_register_checkpoint_loaders=hookimpl(
            lambda register: register.add_checkpoint_loader("rec", Recording, flavour="spicy")
        ),
        gnneval_register_architectures=hookimpl(lambda register: register.add_architecture("scaled", build, scale=3)),
    )
    host = _host(("rec", plugin))
    assert not host.problems, _messages(host)
    host.registry.build_architecture("scaled", in_channels=2)
    from gnneval.load.checkpoint import load_checkpoint

    with pytest.raises(UsageError):
        load_checkpoint(Path(__file__), host.registry, loader="rec")
    assert seen == {"scale": 3, "flavour": "spicy"}


def test_wrong_metric_level_and_tasks_are_reported():
    class Layers(Metric):
        level = "layers"

        def compute(self, inputs):
            return {}

    class Task(Metric):
        tasks = ("node-clasification",)

        def compute(self, inputs):
            return {}

    plugin = types.SimpleNamespace(
        gnneval_register_metrics=hookimpl(
            lambda register: (register.add_metric("layers", Layers), register.add_metric("task", Task))
        )
    )
    host = _host(("metrics", plugin))
    msg = _messages(host)
    assert "level='layers'" in msg and "node-clasification" in msg
    assert host.registry.names("metric") == []


def test_tryfirst_wins_a_name_clash_as_in_pluggy():
    class A(_Zero):
        pass

    class B(_Zero):
        pass

    first = types.SimpleNamespace(
        gnneval_register_pruners=hookimpl(tryfirst=True)(lambda register: register.add_pruner("same", A))
    )
    plain = types.SimpleNamespace(gnneval_register_pruners=hookimpl(lambda register: register.add_pruner("same", B)))
    host = _host(("first", first), ("plain", plain))
    assert host.registry.get("pruner", "same").obj is A
    assert "registered by both" in _messages(host)


def test_builtins_win_a_name_clash_whatever_the_order(tmp_path):
    """A third-party plugin registering 'structured' never replaces the built-in, from any directory."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "evil_structured.py").write_text(
        textwrap.dedent("""
        from gnneval.plugin import PruneOutcome, Pruner, hookimpl

        class Fake(Pruner):
            structured = True
            def prune(self, model, sparsity, ctx):
                return PruneOutcome(model=model)

        @hookimpl(tryfirst=True)
        def gnneval_register_pruners(register):
            register.add_pruner("structured", Fake)
    """)
    )
    info = site / "aaa_evil-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: aaa-evil\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gnneval]\nevil = evil_structured\n")
    code = (
        "from gnneval._plugins.manager import build_plugin_host; h = build_plugin_host(); "
        "r = h.registry.get('pruner', 'structured'); print(r.plugin.dist); "
        "print(any('registered by both' in p.message for p in h.problems))"
    )
    for cwd in (REPO, site, tmp_path):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(site)},
            check=True,
        )
        assert out.stdout.split() == ["gnneval", "True"], (cwd, out.stdout, out.stderr[-500:])


class _Strings(Metric):
    def compute(self, inputs):
        return {"half": "0.5", "nan": float("nan"), "ok": 1.0, "x" * 70: 2.0}


class _Halfway(Pruner):
    """Claims to prune but zeroes only half of what it is asked (and masks what it zeroed)."""

    def prune(self, model, sparsity, ctx):
        import torch

        masks = {}
        for name, p in prunable_weights(model):
            m = torch.ones_like(p, dtype=torch.bool)
            m.view(-1)[: int(p.numel() * sparsity / 2)] = False
            with torch.no_grad():
                p.mul_(m)
            masks[name] = m
        return PruneOutcome(model=model, masks=masks)


def test_bad_metric_values_and_short_pruners_are_named_in_the_run(sbm_checkpoint, tmp_path):
    plugin = types.SimpleNamespace(
        gnneval_register_metrics=hookimpl(lambda register: register.add_metric("strings", _Strings)),
        gnneval_register_pruners=hookimpl(lambda register: register.add_pruner("halfway", _Halfway)),
    )
    host = build_plugin_host(extra=[("sloppy", plugin)])
    settings = EvaluateSettings(
        checkpoint=sbm_checkpoint,
        pruners=["halfway"],
        sparsities=[0.6],
        bench=False,
        out_dir=tmp_path / "run",
        visualisers=[],
        metrics=["+strings"],
    )
    result = Evaluator(settings, host, show_progress=False).run()
    msgs = " | ".join(f"{p.where}: {p.message}" for p in result.problems)
    assert "metric 'strings'" in msgs and "'0.5'" in msgs and "not a number" in msgs
    assert "returned nan for 'nan'" in msgs and "keys are identifiers" in msgs
    assert "strings.half" not in result.dense.metrics and result.dense.metrics["strings.ok"] == 1.0
    assert "pruner 'halfway'" in msgs and "asked for sparsity 0.60" in msgs
    assert "accuracy.test" in result.variant("halfway@0.60").metrics


def test_check_pruner_needs_masks_that_agree_with_the_zeros(gnneval_graph, gnneval_model):
    class NoMasks(Pruner):
        def prune(self, model, sparsity, ctx):
            import torch

            with torch.no_grad():
                for _name, p in prunable_weights(model):
                    p.view(-1)[: int(p.numel() * sparsity)] = 0
            return PruneOutcome(model=model)

    class WrongMasks(Pruner):
        def prune(self, model, sparsity, ctx):
            import torch

            masks = {}
            with torch.no_grad():
                for name, p in prunable_weights(model):
                    p.view(-1)[: int(p.numel() * sparsity)] = 0
                    masks[name] = torch.ones_like(p, dtype=torch.bool)  # claims nothing was pruned
            return PruneOutcome(model=model, masks=masks)

    with pytest.raises(AssertionError, match="returned no masks"):
        check_pruner(NoMasks, gnneval_graph, copy.deepcopy(gnneval_model))
    with pytest.raises(AssertionError, match="that its masks keep"):
        check_pruner(WrongMasks, gnneval_graph, copy.deepcopy(gnneval_model))


def test_check_pruner_works_for_link_prediction_and_graph_classification():
    from gnneval.plugin.helpers import train

    host = build_plugin_host()
    magnitude = host.registry.get("pruner", "magnitude").obj
    structured = host.registry.get("pruner", "structured").obj
    link = small_graph(task="link-prediction")
    check_pruner(magnitude, link, small_link_model(link, epochs=5))
    graphs = small_graph(task="graph-classification")
    model = host.registry.build_architecture(
        "graph-classifier",
        in_channels=graphs.num_features,
        hidden_channels=16,
        out_channels=graphs.num_classes,
        num_layers=2,
    )
    train(model, graphs, epochs=3, patience=3, seed=0)
    check_pruner(magnitude, graphs, model.eval())
    check_pruner(structured, graphs, model.eval(), sparsities=(0.5,))


def test_selection_syntax_adds_and_removes(sbm_checkpoint, tmp_path, capsys):
    assert (
        main(
            [
                "evaluate",
                str(sbm_checkpoint),
                "--pruner",
                "magnitude",
                "--sparsity",
                "0.5",
                "--no-bench",
                "--no-progress",
                "--out",
                str(tmp_path / "run"),
                "--visualisers",
                "curves",
                "--metrics",
                "-rbf-cka,-clustering,+macro-f1",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if "metrics:" in ln)
    assert "rbf-cka" not in line and "clustering" not in line and "linear-cka" in line
    assert "visualisers: curves" in line
    code = main(
        [
            "evaluate",
            str(sbm_checkpoint),
            "--pruner",
            "magnitude",
            "--metrics",
            "accuracy,+linear-cka",
            "--out",
            str(tmp_path / "bad"),
        ]
    )
    assert code == 2 and "mixes names with +/-" in capsys.readouterr().err


def test_scope_is_sugar_for_pruners_that_declare_it_and_unknown_options_fail(sbm_checkpoint, tmp_path, capsys):
    code = main(
        ["evaluate", str(sbm_checkpoint), "--pruner", "structured", "--scope", "global", "--out", str(tmp_path / "a")]
    )
    assert code == 2 and "declares a 'scope' option" in capsys.readouterr().err
    code = main(
        [
            "evaluate",
            str(sbm_checkpoint),
            "--pruner",
            "magnitude",
            "-o",
            "magnitude.scop=global",
            "--out",
            str(tmp_path / "b"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "scop" in err and "accepts: pattern, scope" in err


def test_graph_classification_is_a_task_choice(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "nothing.pt", "--pruner", "magnitude", "--task", "graph-clasification"])
    assert exc.value.code == 2
    assert "graph-classification" in capsys.readouterr().err


def test_summary_column_declared_by_a_plugin_metric(sbm_checkpoint, tmp_path, capsys):
    class Norm(Metric):
        level = "layer"
        summary = {"mean": Column("mean norm", "{:.2f}", help="mean L2 norm of the embeddings")}

        def compute(self, inputs):
            import numpy as np

            return {"mean": float(np.linalg.norm(inputs.embedding, axis=1).mean())}

    plugin = types.SimpleNamespace(
        gnneval_register_metrics=hookimpl(lambda register: register.add_metric("probe-norm", Norm, default=False))
    )
    host = build_plugin_host(extra=[("norms", plugin)])
    settings = EvaluateSettings(
        checkpoint=sbm_checkpoint,
        pruners=["magnitude"],
        sparsities=[0.5],
        bench=False,
        out_dir=tmp_path / "run",
        visualisers=[],
        metrics=["+probe-norm"],
    )
    result = Evaluator(settings, host, show_progress=False).run()
    from rich.console import Console

    from gnneval.show.console import print_summary
    from gnneval.store.hdf5 import read_run

    console = Console(record=True, width=250)
    print_summary(read_run(tmp_path / "run"), console, tmp_path / "run")
    text = " ".join(console.export_text().split())  # the caption wraps at the console's width
    assert "mean norm" in text and "mean L2 norm of the embeddings" in text
    assert "mean norm" in (tmp_path / "run" / "report.html").read_text()
    assert result.headline is not None and result.headline.key == "accuracy.test"


OLD_PLUGIN = '''
"""A plugin written against gnneval's 0.x docs: it imports gnneval.accounting and gnneval.errors."""
from gnneval.accounting import prunable_weights
from gnneval.errors import UsageError
from gnneval.plugin import PruneContext, PruneOutcome, Pruner, hookimpl


class OldRandom(Pruner):
    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import torch

        if not 0 <= sparsity < 1:
            raise UsageError("bad sparsity")
        masks = {}
        with torch.no_grad():
            for i, (name, p) in enumerate(prunable_weights(model)):
                order = torch.randperm(p.numel(), generator=ctx.generator(salt=i))
                mask = torch.ones(p.numel(), dtype=torch.bool)
                mask[order[: round(sparsity * p.numel())]] = False
                masks[name] = mask.view_as(p)
                p.mul_(masks[name])
        return PruneOutcome(model=model, masks=masks)


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner("old-random", OldRandom, description="written against the 0.x docs")
'''


@pytest.mark.slow
def test_a_plugin_package_written_against_the_old_imports_installs_and_runs(sbm_checkpoint, tmp_path):
    pkg = tmp_path / "gnneval-old-random"
    (pkg / "src" / "gnneval_old_random").mkdir(parents=True)
    (pkg / "src" / "gnneval_old_random" / "__init__.py").write_text(OLD_PLUGIN)
    (pkg / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "gnneval-old-random"
        version = "0.1.0"
        [project.entry-points.gnneval]
        old-random = "gnneval_old_random"
        [tool.setuptools.packages.find]
        where = ["src"]
    """)
    )
    site = tmp_path / "site"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(pkg),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONWARNINGS": "always::DeprecationWarning"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "gnneval",
            "evaluate",
            str(sbm_checkpoint),
            "--pruner",
            "old-random",
            "--sparsity",
            "0.5",
            "--no-bench",
            "--no-progress",
            "--visualisers",
            "curves",
            "--metrics",
            "accuracy",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "old-random@0.50" in out.stdout
    assert "gnneval.accounting is deprecated" in out.stderr and "import from gnneval.plugin" in out.stderr


def test_a_plugin_can_require_the_plugin_api_version():
    from gnneval.plugin import API_VERSION, PluginError, require_api

    require_api("1.0")
    require_api("1")
    require_api(">=0.9")
    with pytest.raises(PluginError, match=f"provides {API_VERSION}"):
        require_api("2.0")


def test_a_plugin_requiring_a_newer_api_is_listed_as_failed(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "future_plugin.py").write_text("from gnneval.plugin import require_api\nrequire_api('9.0')\n")
    info = site / "future_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: future-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[gnneval]\nfuture = future_plugin\n")
    code = (
        "from gnneval._plugins.manager import build_plugin_host; h = build_plugin_host(); "
        "i = h.plugins['future']; print(i.status, '|', i.error)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
        check=True,
    )
    assert out.stdout.startswith("failed |") and "needs gnneval plugin API 9.0" in out.stdout
