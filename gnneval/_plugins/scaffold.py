"""``gnneval new-plugin NAME --kind KIND``: write a ready-to-install plugin distribution.

The package has a pyproject.toml with its ``gnneval`` entry point, a working
plugin of the chosen kind (a real, simple implementation to start from), a
README, and tests that use gnneval's testing kit and pass as written.
"""

from __future__ import annotations

import re
from pathlib import Path

from gnneval._plugins.registry import NAME_RE
from gnneval.plugin import UsageError

KINDS = ("pruner", "metric", "visualiser", "checkpoint-loader")

PYPROJECT = '''[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "gnneval plugin: {summary}"
requires-python = ">=3.10"
dependencies = ["gnneval>=0.1"]

[project.optional-dependencies]
test = ["pytest>=7"]

# gnneval finds the plugin through this entry point.
[project.entry-points.gnneval]
{name} = "{module}"

[tool.setuptools.packages.find]
where = ["src"]
'''

README = '''# {dist}

A gnneval plugin that registers the {kind} `{name}`: {summary}.

    pip install -e ".[test]"      # then `gnneval plugins` lists it
    pytest                         # gnneval's contract tests for a {kind}

Edit `src/{module}/__init__.py`; the hooks and base classes are documented in gnneval's
`docs/plugins.md`.
'''

CODE = {
    "pruner": '''"""gnneval plugin: {summary}."""

from __future__ import annotations

from gnneval.plugin import prunable_weights
from gnneval.plugin import PruneContext, PruneOutcome, Pruner, hookimpl


class {cls}(Pruner):
    """Zeroes a seeded random share of every weight matrix (exactly round(sparsity * n) weights)."""

    structured = False

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import torch

        masks = {{}}
        with torch.no_grad():
            for i, (name, p) in enumerate(prunable_weights(model)):
                order = torch.randperm(p.numel(), generator=ctx.generator(salt=i))
                mask = torch.ones(p.numel(), dtype=torch.bool)
                mask[order[: int(round(sparsity * p.numel()))]] = False
                masks[name] = mask.view_as(p)
                p.mul_(masks[name])
        return PruneOutcome(model=model, masks=masks, details={{"criterion": "random"}})


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner("{name}", {cls}, description="{summary}")
''',
    "metric": '''"""gnneval plugin: {summary}."""

from __future__ import annotations

import numpy as np

from gnneval.plugin import Metric, MetricInputs, hookimpl


class {cls}(Metric):
    """Mean L2 norm of the node embeddings of each message-passing layer."""

    level = "layer"

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        return {{"mean_norm": float(np.linalg.norm(inputs.embedding, axis=1).mean())}}


@hookimpl
def gnneval_register_metrics(register):
    register.add_metric("{name}", {cls}, description="{summary}")
''',
    "visualiser": '''"""gnneval plugin: {summary}."""

from __future__ import annotations

from pathlib import Path

from gnneval.plugin import DENSE_COLOUR, pruner_colour, save_figure
from gnneval.plugin import VisualContext, Visualiser, hookimpl


class {cls}(Visualiser):
    """A bar per variant: its test accuracy, coloured by pruner."""

    def draw(self, ctx: VisualContext) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        run = ctx.run
        variants = [v for v in run.variants if v.ok and "accuracy.test" in v.metrics]
        fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(variants)), 3.5))
        colours = [DENSE_COLOUR if v.pruner is None else pruner_colour(v.pruner, run.pruners) for v in variants]
        ax.bar([v.id for v in variants], [100 * v.metrics["accuracy.test"] for v in variants], color=colours)
        ax.set_ylabel("test accuracy (%)")
        ax.set_xlabel("variant")
        ax.set_title(f"Test accuracy of every variant on {{run.graph.name}}")
        ax.tick_params(axis="x", labelrotation=45)
        fig.tight_layout()
        return save_figure(fig, ctx.out_dir, "{name}", ctx.formats)


@hookimpl
def gnneval_register_visualisers(register):
    register.add_visualiser("{name}", {cls}, description="{summary}")
''',
    "checkpoint-loader": '''"""gnneval plugin: {summary}."""

from __future__ import annotations

from pathlib import Path

from gnneval.plugin import torch_load
from gnneval.plugin import CheckpointLoader, DatasetRef, LoadContext, LoadedCheckpoint, hookimpl

FORMAT = "{name}"


class {cls}(CheckpointLoader):
    """Reads ``{{"format": "{name}", "arch": "gcn", "arch_kwargs": {{...}}, "weights": state_dict,
    "dataset": "Cora"}}`` saved with ``torch.save``; returns None for anything else."""

    def load(self, path: Path, ctx: LoadContext) -> LoadedCheckpoint | None:
        obj = torch_load(path, trust=ctx.trust)  # weights_only unless the user passed --trust
        if not isinstance(obj, dict) or obj.get("format") != FORMAT:
            return None
        model = ctx.build_model(obj["arch"], **obj.get("arch_kwargs", {{}}))
        model.load_state_dict(obj["weights"])
        dataset = DatasetRef(obj["dataset"]) if obj.get("dataset") else None
        return LoadedCheckpoint(model=model.eval(), architecture=obj["arch"],
                                architecture_kwargs=dict(obj.get("arch_kwargs", {{}})),
                                task="node-classification", dataset=dataset)


@hookimpl
def gnneval_register_checkpoint_loaders(register):
    register.add_checkpoint_loader("{name}", {cls}, description="{summary}")
''',
}

TESTS = {
    "pruner": '''def test_contract(gnneval_graph, gnneval_model):
    check_pruner({cls}, gnneval_graph, gnneval_model)
''',
    "metric": '''def test_contract(gnneval_run):
    check_metric({cls}, gnneval_run)
''',
    "visualiser": '''def test_contract(gnneval_run, tmp_path):
    check_visualiser({cls}, gnneval_run, tmp_path)
''',
    "checkpoint-loader": '''def test_contract(tmp_path):
    check_checkpoint_loader({cls}, tmp_path / "junk")


def test_loads_its_format(tmp_path, gnneval_graph, gnneval_model):
    import torch

    from gnneval.load.checkpoint import load_checkpoint
    from gnneval._plugins.manager import build_plugin_host

    kwargs = {{"in_channels": gnneval_graph.num_features, "hidden_channels": 32,
              "out_channels": gnneval_graph.num_classes, "num_layers": 2}}
    path = tmp_path / "model.pt"
    torch.save({{"format": "{name}", "arch": "gcn", "arch_kwargs": kwargs,
                "weights": gnneval_model.state_dict(), "dataset": "sbm"}}, path)
    host = build_plugin_host()
    if "{name}" not in host.registry.names("checkpoint-loader"):  # not installed yet: register in-process
        host = build_plugin_host(extra=[("{name}", {module})])
    loaded, loader = load_checkpoint(path, host.registry, loader="{name}")
    assert loader == "{name}" and loaded.dataset.name == "sbm"
''',
}

TEST_HEADER = '''"""Contract tests from gnneval's testing kit (fixtures come from its pytest plugin)."""

import {module}
from gnneval._plugins.manager import build_plugin_host
from gnneval.testing import {check}
from {module} import {cls}


def test_registers_its_name():
    host = build_plugin_host(use_entry_points=False, extra=[("{name}", {module})])
    assert host.registry.get("{kind}", "{name}").obj is {cls}


'''

CHECKS = {"pruner": "check_pruner", "metric": "check_metric", "visualiser": "check_visualiser",
          "checkpoint-loader": "check_checkpoint_loader"}
SUMMARIES = {"pruner": "random unstructured pruning (a starting point)",
             "metric": "mean L2 norm of each layer's node embeddings",
             "visualiser": "test accuracy of every variant as a bar chart",
             "checkpoint-loader": "a simple dict checkpoint format"}


def new_plugin(name: str, kind: str, directory: Path) -> Path:
    """Write the plugin package ``gnneval-<name>`` under ``directory``; returns its folder."""
    if not NAME_RE.match(name):
        raise UsageError(f"plugin name {name!r}: use 1-32 lower-case letters, digits and '-', starting with a letter")
    if kind not in KINDS:
        raise UsageError(f"unknown plugin kind '{kind}'; choose one of {', '.join(KINDS)}")
    dist = name if name.startswith("gnneval-") else f"gnneval-{name}"
    module = dist.replace("-", "_")
    cls = "".join(part.capitalize() for part in re.split(r"[-_]", name)) + {
        "pruner": "Pruner", "metric": "Metric", "visualiser": "Visualiser", "checkpoint-loader": "Loader"}[kind]
    root = Path(directory) / dist
    if root.exists():
        raise UsageError(f"{root} already exists; choose another name or --dir")
    fmt = {"name": name, "dist": dist, "module": module, "cls": cls, "kind": kind, "check": CHECKS[kind],
           "summary": SUMMARIES[kind]}
    (root / "src" / module).mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT.format(**fmt))
    (root / "README.md").write_text(README.format(**fmt))
    (root / "src" / module / "__init__.py").write_text(CODE[kind].format(**fmt))
    (root / "tests" / f"test_{module}.py").write_text(TEST_HEADER.format(**fmt) + TESTS[kind].format(**fmt))
    return root
