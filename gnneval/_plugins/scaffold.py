"""``gnneval new-plugin NAME --kind KIND``: write a ready-to-install plugin distribution.

The package has a pyproject.toml with its ``gnneval`` entry point, a working
plugin of the chosen kind (a real, simple implementation to start from), a
README, and tests that use gnneval's testing kit and pass as written.
"""

from __future__ import annotations

import re
from pathlib import Path

from gnneval.core.errors import UsageError
from gnneval.core.registry import KINDS, NAME_RE

PYPROJECT = """[build-system]
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
"""

README = """# {dist}

A gnneval plugin that registers the {kind} `{name}`: {summary}.

    pip install -e ".[test]"      # then `gnneval plugins` lists it
    pytest                         # gnneval's contract tests for a {kind}

Edit `src/{module}/__init__.py`; the hooks and base classes are documented in gnneval's
`docs/plugins.md`.
"""

CODE = {
    "pruner": '''"""gnneval plugin: {summary}."""

from __future__ import annotations

from gnneval.plugin import PruneContext, PruneOutcome, Pruner, hookimpl
from gnneval.plugin.helpers import prunable_weights


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

from gnneval.plugin import Column, Metric, MetricInputs, hookimpl


class {cls}(Metric):
    """Mean L2 norm of the node embeddings of each message-passing layer."""

    level = "layer"
    # a column in the representation table of `gnneval evaluate`, `gnneval show` and report.html
    summary = {{"mean_norm": Column("mean norm", "{{:.2f}}", help="mean L2 norm of the node embeddings")}}

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        return {{"mean_norm": float(np.linalg.norm(inputs.embedding, axis=1).mean())}}


@hookimpl
def gnneval_register_metrics(register):
    register.add_metric("{name}", {cls}, description="{summary}")
''',
    "tracker": '''"""gnneval plugin: {summary}."""

from __future__ import annotations

import json
from pathlib import Path

from gnneval.plugin import RunInfo, RunResult, Tracker, VariantResult, hookimpl
from gnneval.plugin.helpers import tracked_scalars


class {cls}(Tracker):
    """Appends the run to a JSON-lines file: its settings, every variant's scalars, the files it drew.

    Args:
        target: the file (``--track {name}=FILE``); None: ``tracking.jsonl`` beside the run folder.
    """

    def start(self, run: RunInfo) -> None:
        self.path = Path(self.target) if self.target else Path(run.out_dir).parent / "tracking.jsonl"
        self._write({{"event": "start", "run": str(run.out_dir), "settings": run.settings}})

    def log_variant(self, variant: VariantResult, run: RunResult) -> None:
        self._write({{"event": "variant", "id": variant.id, "ok": variant.ok,
                      "scalars": tracked_scalars(run, variant) if variant.ok else {{}}}})

    def finish(self, result: RunResult, run_dir: Path) -> None:
        self._write({{"event": "finish", "files": result.files}})

    def _write(self, record: dict) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, default=str) + "\\n")


@hookimpl
def gnneval_register_trackers(register):
    register.add_tracker("{name}", {cls}, description="{summary}")
''',
    "visualiser": '''"""gnneval plugin: {summary}."""

from __future__ import annotations

from pathlib import Path

from gnneval.plugin import VisualContext, Visualiser, hookimpl
from gnneval.plugin.helpers import DENSE_COLOUR, pruner_colour, save_figure


class {cls}(Visualiser):
    """A bar per variant: its task score (test accuracy, AUC...), coloured by pruner."""

    caption = "The task score of every variant, one bar each, coloured by pruner."

    def draw(self, ctx: VisualContext) -> list[Path]:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        run = ctx.run
        score = run.require_headline()  # the column a metric declared as the task's score
        variants = [v for v in run.variants if v.ok and score.key in v.metrics]
        fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(variants)), 3.5))
        colours = [DENSE_COLOUR if v.pruner is None else pruner_colour(v.pruner, run.pruners) for v in variants]
        ax.bar([v.id for v in variants], [v.metrics[score.key] for v in variants], color=colours)
        ax.set_ylabel(score.label)
        ax.set_xlabel("variant")
        ax.set_title(f"{{score.label}} of every variant on {{run.graph.name}}")
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

from gnneval.plugin import CheckpointLoader, DatasetRef, LoadContext, LoadedCheckpoint, hookimpl
from gnneval.plugin.helpers import torch_load

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
    "architecture": '''"""gnneval plugin: {summary}."""

from __future__ import annotations

from gnneval.plugin import hookimpl


def build(in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2, dropout: float = 0.5):
    """A GraphSAGE with max aggregation; gnneval captures every MessagePassing layer's output."""
    from torch_geometric.nn.models import GraphSAGE

    return GraphSAGE(in_channels, hidden_channels, num_layers, out_channels=out_channels, dropout=dropout,
                     aggr="max")


@hookimpl
def gnneval_register_architectures(register):
    register.add_architecture("{name}", build, description="{summary}")
''',
    "dataset-loader": '''"""gnneval plugin: {summary}."""

from __future__ import annotations

from pathlib import Path

from gnneval.plugin import DatasetContext, DatasetLoader, GraphData, UsageError, hookimpl


class {cls}(DatasetLoader):
    """Loads ``<data root>/{name}/<dataset>.npz`` holding ``x`` [N, F], ``edge_index`` [2, E], ``y`` [N] and
    ``train_mask`` / ``val_mask`` / ``test_mask`` [N] (a node-classification graph of your own)."""

    def names(self) -> list[str]:
        return ["{name}"]

    def handles(self, name: str) -> bool:
        return name.lower().startswith("{name}")

    def load(self, name: str, ctx: DatasetContext) -> GraphData:
        import numpy as np
        import torch
        from torch_geometric.data import Data

        root = Path(ctx.root or ctx.cache_dir) / "{name}"
        path = root / f"{{name}}.npz"
        if not path.is_file():
            raise UsageError(f"dataset '{{name}}' needs {{path}}; put the .npz there or pass --data-root")
        arrays = np.load(path)
        data = Data(x=torch.as_tensor(arrays["x"], dtype=torch.float32),
                    edge_index=torch.as_tensor(arrays["edge_index"], dtype=torch.long),
                    y=torch.as_tensor(arrays["y"], dtype=torch.long))
        for split in ("train", "val", "test"):
            setattr(data, f"{{split}}_mask", torch.as_tensor(arrays[f"{{split}}_mask"], dtype=torch.bool))
        return GraphData(name=name, task="node-classification", data=data, num_features=data.x.shape[1],
                         num_classes=int(data.y.max()) + 1, source=str(path))


@hookimpl
def gnneval_register_dataset_loaders(register):
    register.add_dataset_loader("{name}", {cls}, description="{summary}")
''',
}

TESTS = {
    "architecture": """def test_contract(gnneval_graph):
    check_architecture({module}.build, gnneval_graph)
""",
    "dataset-loader": """def test_contract(tmp_path, gnneval_graph):
    import numpy as np

    d = gnneval_graph.data
    (tmp_path / "{name}").mkdir()
    np.savez(tmp_path / "{name}" / "{name}.npz", x=d.x.numpy(), edge_index=d.edge_index.numpy(), y=d.y.numpy(),
             train_mask=d.train_mask.numpy(), val_mask=d.val_mask.numpy(), test_mask=d.test_mask.numpy())
    graph = check_dataset_loader({cls}, "{name}", tmp_path)
    assert graph.data.num_nodes == d.num_nodes
""",
    "pruner": """def test_contract(gnneval_graph, gnneval_model):
    check_pruner({cls}, gnneval_graph, gnneval_model)
""",
    "metric": """def test_contract(gnneval_run):
    check_metric({cls}, gnneval_run)
""",
    "visualiser": """def test_contract(gnneval_run, tmp_path):
    check_visualiser({cls}, gnneval_run, tmp_path)
""",
    "tracker": """def test_contract(gnneval_run, tmp_path):
    import json

    check_tracker({cls}, gnneval_run, tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "tracking").read_text().splitlines()]
    assert lines[0]["event"] == "start" and lines[-1]["event"] == "finish"
    assert sum(line["event"] == "variant" for line in lines) == len(gnneval_run.variants)
""",
    "checkpoint-loader": """def test_contract(tmp_path):
    check_checkpoint_loader({cls}, tmp_path / "junk")


def test_loads_its_format(tmp_path, gnneval_graph, gnneval_model):
    import torch

    from gnneval.testing import load_with

    kwargs = {{"in_channels": gnneval_graph.num_features, "hidden_channels": 32,
              "out_channels": gnneval_graph.num_classes, "num_layers": 2}}
    path = tmp_path / "model.pt"
    torch.save({{"format": "{name}", "arch": "gcn", "arch_kwargs": kwargs,
                "weights": gnneval_model.state_dict(), "dataset": "sbm"}}, path)
    loaded = load_with({module}, "{name}", path)
    assert loaded.dataset.name == "sbm"
""",
}

TEST_HEADER = '''"""Contract tests from gnneval's testing kit (fixtures come from its pytest plugin)."""

import {module}
from gnneval.testing import plugin_host, {check}
from {module} import {obj}


def test_registers_its_name():
    host = plugin_host(extra=[("{name}", {module})], entry_points=False)
    assert host.registry.get("{kind}", "{name}").obj is {obj}
    assert not host.problems, host.problems


'''

CHECKS = {
    "pruner": "check_pruner",
    "metric": "check_metric",
    "visualiser": "check_visualiser",
    "checkpoint-loader": "check_checkpoint_loader",
    "architecture": "check_architecture",
    "dataset-loader": "check_dataset_loader",
    "tracker": "check_tracker",
}
SUMMARIES = {
    "pruner": "random unstructured pruning (a starting point)",
    "metric": "mean L2 norm of each layer's node embeddings",
    "visualiser": "test accuracy of every variant as a bar chart",
    "checkpoint-loader": "a simple dict checkpoint format",
    "architecture": "GraphSAGE with max aggregation",
    "dataset-loader": "node-classification graphs from .npz files",
    "tracker": "every run as JSON lines in one file",
}


def new_plugin(name: str, kind: str, directory: Path) -> Path:
    """Write the plugin package ``gnneval-<name>`` under ``directory``; returns its folder."""
    if not NAME_RE.match(name):
        raise UsageError(f"plugin name {name!r}: use 1-32 lower-case letters, digits and '-', starting with a letter")
    if kind not in KINDS:
        raise UsageError(f"unknown plugin kind '{kind}'; choose one of {', '.join(KINDS)}")
    dist = name if name.startswith("gnneval-") else f"gnneval-{name}"
    module = dist.replace("-", "_")
    cls = (
        "".join(part.capitalize() for part in re.split(r"[-_]", name))
        + {
            "pruner": "Pruner",
            "metric": "Metric",
            "visualiser": "Visualiser",
            "checkpoint-loader": "Loader",
            "dataset-loader": "Datasets",
            "architecture": "",
            "tracker": "Tracker",
        }[kind]
    )
    root = Path(directory) / dist
    if root.exists():
        raise UsageError(f"{root} already exists; choose another name or --dir")
    fmt = {
        "name": name,
        "dist": dist,
        "module": module,
        "cls": cls,
        "kind": kind,
        "check": CHECKS[kind],
        "summary": SUMMARIES[kind],
        "obj": "build" if kind == "architecture" else cls,
    }
    (root / "src" / module).mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT.format(**fmt))
    (root / "README.md").write_text(README.format(**fmt))
    (root / "src" / module / "__init__.py").write_text(CODE[kind].format(**fmt))
    (root / "tests" / f"test_{module}.py").write_text(TEST_HEADER.format(**fmt) + TESTS[kind].format(**fmt))
    return root
