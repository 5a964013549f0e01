"""The ``gnneval`` command line.

Only the standard library, pluggy and rich are imported until a command needs
more, so ``gnneval --help`` and ``gnneval plugins`` answer at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gnneval.core import defaults as D
from gnneval.core.contract import TASKS
from gnneval.core.errors import GnnevalError, UsageError, suggest
from gnneval.core.registry import KINDS
from gnneval.core.version import __version__

EXIT_USAGE = D.EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str):  # noqa: D401
        sys.stderr.write(f"gnneval: error: {message}{self._flag_hint(message)} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)

    def _flag_hint(self, message: str) -> str:
        """For a mistyped flag (``--sparsty``): the closest flags of the command it was given to."""
        import re

        if not message.startswith("unrecognized arguments:"):
            return ""
        flags = [f for f in re.findall(r"(?<!\S)(--?[\w-]+)", message.split(":", 1)[1])]
        known = set(self._option_string_actions)
        commands = next((a.choices for a in self._actions if isinstance(a, argparse._SubParsersAction)), {})
        argv = getattr(self, "argv_seen", sys.argv[1:])
        used = next((commands[w] for w in argv if w in commands), None)
        if used is not None:
            known |= set(used._option_string_actions)
        import difflib

        long = sorted(k for k in known if k.startswith("--"))
        hints = []
        for flag in flags:
            close = difflib.get_close_matches(flag.lstrip("-"), [k[2:] for k in long], n=2, cutoff=0.75)
            if close:
                hints.append(f"{flag}: did you mean " + " or ".join(f"--{c}" for c in close) + "?")
        return "; " + "; ".join(hints) if hints else ""


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _sparsities(value: str) -> list[float]:
    from gnneval.run.evaluate import validate_sparsity

    out = []
    for item in _csv(value):
        try:
            out.append(validate_sparsity(float(item)))
        except ValueError:
            raise UsageError(f"sparsity '{item}' is not a number; give fractions such as 0.3,0.5,0.9") from None
    return out


def _seeds(value: str) -> list[int]:
    out = []
    for item in _csv(value):
        try:
            out.append(int(item))
        except ValueError:
            raise UsageError(f"seed '{item}' is not a whole number; give seeds such as 0,1,2") from None
    if not out:
        raise UsageError("--seeds needs at least one seed, e.g. 0,1,2")
    return out


def _literal(text: str) -> object:
    """A value given on the command line: JSON (``64``, ``true``, ``[8, 1]``), else a Python literal (``True``,
    ``(8, 1)``, ``'mean'``), else the text itself.  Nothing is evaluated."""
    import ast

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _key_values(items: list[str], what: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"{what} '{item}' is not KEY=VALUE")
        k, v = item.split("=", 1)
        out[k.strip()] = _literal(v)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="gnneval",
        description="What does pruning this graph neural network do to it? "
        "Accuracy, representation quality, speed and size of pruned variants, measured.",
    )
    p.add_argument("--version", action="version", version=f"gnneval {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.add_argument(
        "-p",
        dest="plugin_flags",
        action="append",
        default=[],
        metavar="no:NAME",
        help="disable a plugin for this run (repeatable); $GNNEVAL_DISABLE_PLUGINS=a,b does the same",
    )
    p.add_argument(
        "--plugins",
        dest="only_plugins",
        type=_csv,
        default=None,
        metavar="A,B",
        help="load only these plugins (by plugin name)",
    )
    p.add_argument("--trace-hooks", action="store_true", help="print every plugin load and hook call to stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    _evaluate_parser(sub)
    _bench_parser(sub)
    _batch_parser(sub)
    _other_parsers(sub)
    return p


def _evaluate_parser(sub) -> None:
    ev = sub.add_parser("evaluate", help="prune a checkpoint at several sparsities and evaluate every variant")
    ev.add_argument("checkpoint", type=Path, help="checkpoint file (e.g. zoo/gcn_cora.pt)")
    ev.add_argument(
        "--pruner", required=True, type=_csv, help="pruner name(s), comma-separated (see `gnneval plugins`)"
    )
    ev.add_argument(
        "--sparsity",
        type=_sparsities,
        default=None,
        help=f"comma-separated sparsities in [0, 1) (default {D.csv(D.SPARSITIES)})",
    )
    ev.add_argument("--out", type=Path, default=None, help="run folder (default runs/<checkpoint>-<pruner>-<time>); "
                    "one that holds a run of the same checkpoint, seed and dataset gets the new variants added")  # fmt: skip
    ev.add_argument("--split", default=None, metavar="FILE",
                    help="the train/val/test nodes (graphs) the model was trained with: a .json object, .pt dict or "
                         ".npz of indices or boolean masks (default: the dataset loader's split, said as such)")  # fmt: skip
    ev.add_argument("--layer", default=None, metavar="NAME",
                    help="the layer the console, pictures and report show, e.g. convs.1 (default: the last hidden "
                         "layer, the output of the last message-passing layer that feeds the head or pooling); "
                         "any other module named (e.g. lin1) is captured and measured too; every layer is stored")  # fmt: skip
    ev.add_argument("--inference", default="auto", choices=D.INFERENCE,
                    help="how forward passes receive the graph: full (edge_index: one message per edge and channel), "
                         "sparse (a CSR adjacency, spmm: no per-edge messages; GCN, GraphSAGE, GIN, GraphConv), "
                         "layerwise (each layer over batches of nodes with all their neighbours; GAT too) or auto: "
                         "when one layer's messages would need more than 4 GiB, sparse, else layerwise, whichever "
                         "gives the same outputs as full on a subgraph (default auto)")  # fmt: skip
    ev.add_argument("--store-embeddings", default="auto", choices=D.STORE_EMBEDDINGS,
                    help="whose embeddings (and logits) run.h5 keeps for the pictures and your analysis: all, a "
                         f"seeded sample (--store-sample nodes), none; auto: all up to {D.STORE_ALL_NODES:,} nodes, "
                         "else the sample; metrics always use every node's outputs or their own stated sample "
                         "(default auto)")  # fmt: skip
    ev.add_argument("--store-sample", type=int, default=D.STORE_SAMPLE,
                    help=f"nodes whose embeddings --store-embeddings sample keeps (default {D.STORE_SAMPLE:,})")  # fmt: skip
    ev.add_argument("--overwrite", action="store_true",
                    help="replace the run already in --out, and the files it had drawn, instead of adding to it")  # fmt: skip
    seeds = ev.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=D.SEED, help=f"seed for every random choice (default {D.SEED})")
    seeds.add_argument("--seeds", type=_seeds, default=None, metavar="LIST",
                       help="repeat every seed-dependent variant (random pruners, training, fine-tuning, the metrics' "
                            "samples) once per seed, e.g. 0,1,2: shown as mean ± sample sd (n), every repeat stored; "
                            "deterministic variants are made once and marked so; the first seed sets the split")  # fmt: skip
    ev.add_argument("--data-root", default=None, help="dataset folder (default $GNNEVAL_DATA, else the user cache)")
    _evaluate_load_options(ev)
    _evaluate_stage_options(ev)
    bench = ev.add_mutually_exclusive_group()
    bench.add_argument("--bench", dest="bench", action="store_true", default=True, help="time every variant (default)")
    bench.add_argument("--no-bench", dest="bench", action="store_false", help="skip timing")
    ev.add_argument(
        "--device", default=D.DEVICE, help=f"auto: cuda where available, else cpu; or cpu, cuda (default {D.DEVICE})"
    )
    _bench_options(ev)
    ev.add_argument("--svg", action="store_true", help="also write SVG pictures")
    ev.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _evaluate_load_options(ev) -> None:
    """``evaluate``'s options for the load stage: the dataset, the checkpoint loader, the architecture."""
    ev.add_argument("--dataset", default=None, help="dataset name, overriding the checkpoint's metadata")
    ev.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="option for the dataset loader (repeatable)",
    )
    ev.add_argument("--loader", default=None, help="force a checkpoint loader by name")
    ev.add_argument(
        "--code",
        default=None,
        metavar="MODULE_OR_FILE",
        help="with --trust: import this module or .py file first (it defines a pickled model's class)",
    )
    ev.add_argument(
        "--arch",
        default=None,
        metavar="NAME|FILE.py:CLASS",
        help="architecture of a bare state_dict: a registered one (gcn, sage, gat, gin, layer-stack, ...) "
        "or your own model class, models.py:GCN or package.module:GCN. Your file is imported and "
        "runs as Python; the checkpoint itself is still loaded weights-only and never runs code",
    )
    ev.add_argument(
        "--arch-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="architecture argument, a Python literal, e.g. hidden_channels=64 (repeatable)",
    )
    ev.add_argument("--task", default=None, choices=TASKS, help="the model's task, overriding the checkpoint's")
    ev.add_argument(
        "--transform",
        default=None,
        metavar="T1,T2(k=v)",
        help="torch_geometric transforms applied to the dataset, in order, as the model was trained "
        "(e.g. NormalizeFeatures,ToUndirected); default: those the checkpoint records",
    )
    _evaluate_limits(ev)


def _evaluate_limits(ev) -> None:
    """``evaluate``'s limits on what a checkpoint may hold and a plugin may take, and ``--trust``."""
    ev.add_argument(
        "--max-params",
        type=int,
        default=D.MAX_PARAMS,
        metavar="N",
        help=f"refuse checkpoints holding more than N weights, before allocating them (default {D.MAX_PARAMS:g})",
    )
    ev.add_argument(
        "--plugin-timeout",
        type=float,
        default=D.PLUGIN_TIMEOUT_S,
        metavar="SECONDS",
        help=f"stop a metric call or a visualiser after this long, report it, go on (default {D.PLUGIN_TIMEOUT_S:g})",
    )
    ev.add_argument(
        "--allow-nonfinite",
        action="store_true",
        help="evaluate a checkpoint whose weights hold NaN or Inf instead of refusing it",
    )
    ev.add_argument(
        "--trust",
        action="store_true",
        help="allow loading checkpoints that contain Python objects (runs code from the file!)",
    )


def _sample_options(ev) -> None:
    """``evaluate``'s options for the samples metrics draw."""
    ev.add_argument(
        "--metric-nodes",
        type=int,
        default=D.METRIC_NODES,
        help="nodes the metrics linear in the graph's size (probes, k-means, sums over edges) use at most: a "
        f"seeded sample above it, stated beside each value (default {D.METRIC_NODES:,})",
    )
    ev.add_argument(
        "--metric-sample",
        type=int,
        default=D.METRIC_SAMPLE,
        help=f"nodes in the seeded sample shared by O(n^2) metrics (default {D.METRIC_SAMPLE})",
    )
    ev.add_argument(
        "--bootstrap",
        type=int,
        default=D.BOOTSTRAP,
        help=f"bootstrap resamples for confidence intervals (default {D.BOOTSTRAP})",
    )


def _evaluate_stage_options(ev) -> None:
    """``evaluate``'s options for the prune and measure stages."""
    ev.add_argument(
        "--metrics",
        type=_csv,
        default=None,
        metavar="SELECTION",
        help="metrics: a,b replaces the defaults; +a adds to them, -b removes one (e.g. +probe-norm,-rbf-cka)",
    )
    ev.add_argument(
        "--visualisers", type=_csv, default=None, metavar="SELECTION", help="visualisers, selected as for --metrics"
    )
    _sample_options(ev)
    ev.add_argument(
        "--scope",
        choices=("layer", "global"),
        default=None,
        help="shorthand for -o NAME.scope=... for every selected pruner that declares a 'scope' option "
        "(rank weights per layer or globally)",
    )
    ev.add_argument(
        "--save-pruned",
        action="store_true",
        help="write the dense model and every variant to OUT/checkpoints/<variant>.pt (gnneval format 2: "
        "sparse weights compressed, masks kept); the summary shows their bytes on disk",
    )
    ev.add_argument(
        "--finetune-epochs",
        type=int,
        default=0,
        help="retrain every pruned variant for up to N epochs with its mask fixed, stopping early (default 0)",
    )
    ev.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="an option of a selected pruner, a visualiser or a tracker, e.g. magnitude.scope=global, "
        "structured.criterion=l2, explorer.max_points=100000, mlflow.experiment=cora (repeatable; "
        "`gnneval plugins NAME` lists them)",
    )
    ev.add_argument("--track", action="append", default=[], metavar="NAME[=TARGET]",
                    help="send the run to an experiment tracker (repeatable): mlflow[=TRACKING_URI] (default a "
                         "SQLite mlflow.db beside the run folder), tensorboard[=LOGDIR], wandb[=PROJECT] (offline "
                         "unless WANDB_MODE says otherwise); `gnneval plugins NAME` describes each")  # fmt: skip


def _bench_parser(sub) -> None:
    bn = sub.add_parser("bench", help="benchmark a checkpoint's dense model on PyTorch and ONNX Runtime")
    bn.add_argument("checkpoint", type=Path)
    bn.add_argument("--data-root", default=None, help="dataset folder (default $GNNEVAL_DATA, else the user cache)")
    bn.add_argument("--dataset", default=None, help="dataset name, overriding the checkpoint's metadata")
    bn.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE")
    bn.add_argument("--loader", default=None, help="force a checkpoint loader by name")
    bn.add_argument("--trust", action="store_true", help="allow checkpoints holding Python objects (runs code!)")
    bn.add_argument(
        "--device", default=D.DEVICE, help=f"auto: cuda where available, else cpu; or cpu, cuda (default {D.DEVICE})"
    )
    bn.add_argument("--seed", type=int, default=D.SEED, help=f"seed (default {D.SEED})")
    _bench_options(bn)


def _batch_parser(sub) -> None:
    bt = sub.add_parser("batch", help="evaluate a folder or manifest of checkpoints; resumable; leaderboard")
    bt.add_argument(
        "source", type=Path, help="folder of checkpoints (searched recursively) or a manifest (.yaml/.json)"
    )
    bt.add_argument("--pruner", required=True, type=_csv, help="pruner name(s), comma-separated")
    bt.add_argument(
        "--sparsity", type=_sparsities, default=None, help=f"comma-separated sparsities (default {D.csv(D.SPARSITIES)})"
    )
    bt.add_argument("--out", type=Path, required=True, help="results folder (re-run the same command to resume)")
    bt.add_argument("--seed", type=int, default=D.SEED, help=f"seed of every evaluation (default {D.SEED})")
    bt.add_argument("--jobs", type=int, default=D.BATCH_JOBS, help=f"local worker processes (default {D.BATCH_JOBS})")
    bt.add_argument("--timeout", type=float, default=None, help="seconds allowed per checkpoint")
    bt.add_argument(
        "--tolerance",
        type=float,
        default=D.BATCH_TOLERANCE,
        help=f"accuracy points below dense still 'kept' (default {D.BATCH_TOLERANCE:g})",
    )
    bt.add_argument("--executor", default="local", choices=("local", "ray"), help="where jobs run (default local)")
    bt.add_argument("--address", default=None, help="Ray cluster address (default: start a local one)")
    bt.add_argument("--memory-per-job", type=float, default=None, metavar="GB",
                    help="--executor ray: the memory each checkpoint's evaluation needs (a Ray resource: a node "
                         "runs only as many at once as fit)")  # fmt: skip
    bt.add_argument("--data-root", default=None)
    bt.add_argument(
        "--metrics",
        default=None,
        help="metrics for every evaluation, selected as for evaluate (default: the registered defaults)",
    )
    bt.add_argument(
        "--visualisers",
        default=None,
        help="visualisers for every evaluation, selected as for evaluate (default: the registered defaults)",
    )
    bt.add_argument(
        "--backends",
        default=None,
        help=f"benchmark backends for every evaluation (default {D.csv(D.DEFAULT_BACKENDS)})",
    )
    bt.add_argument("--no-bench", action="store_true", help="skip timing")
    bt.add_argument("--no-progress", action="store_true")
    bt.add_argument("--seeds", type=_seeds, default=None, metavar="LIST",
                    help="repeat every seed-dependent variant once per seed, as for evaluate (replaces --seed)")  # fmt: skip
    bt.add_argument("--transform", default=None, help="dataset transforms for every checkpoint, as for evaluate")
    bt.add_argument("--finetune-epochs", type=int, default=None, help="fine-tune every variant, as for evaluate")
    bt.add_argument("--split", default=None, metavar="FILE", help="the train/val/test split of every checkpoint")
    bt.add_argument("-o", "--option", action="append", default=[], metavar="NAME.KEY=VALUE",
                    help="a pruner's, visualiser's or tracker's option for every checkpoint (repeatable)")  # fmt: skip
    bt.add_argument("--track", action="append", default=[], metavar="NAME[=TARGET]",
                    help="send every evaluation to an experiment tracker, as for evaluate (repeatable)")  # fmt: skip
    bt.add_argument("--format", default="table", choices=("table", "json", "csv", "markdown"),
                    help="what to print at the end: the leaderboard's summary table, or its tidy rows (one per "
                         "checkpoint and variant) as json, csv or markdown (default table)")  # fmt: skip


def _other_parsers(sub) -> None:
    pl = sub.add_parser("plugins", help="list every plugin, its distribution and version, and what it registers")
    pl.add_argument(
        "name",
        nargs="?",
        default=None,
        help="one plugin or registered name: what it is, its options with defaults and meanings",
    )
    pl.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="describe every registration: docstring, options with defaults and meanings, tasks, levels",
    )
    pl.add_argument("--json", action="store_true", help="print JSON")

    sh = sub.add_parser("show", help="print the summary of a stored run")
    sh.add_argument("run", type=Path, help="run folder or its run.h5")
    sh.add_argument("--wide", action="store_true", help="every column, whatever the terminal's width")
    sh.add_argument("--layer", default=None, metavar="NAME", help="the layer the representation table shows")
    sh.add_argument("--format", default="table", choices=("table", "json", "csv", "markdown"),
                    help="table: the console summary; json, csv, markdown: every number of the run as one tidy "
                         "table (one row per variant, layer and metric; columns in docs/run-file.md) (default table)")  # fmt: skip

    cp = sub.add_parser("compare", help="runs side by side: a table, their tidy tables and overlay curves")
    cp.add_argument("runs", type=Path, nargs="+", help="two or more run folders (or their run.h5)")
    cp.add_argument("--out", type=Path, default=None,
                    help="folder for compare.csv, compare.json and the overlay curves (default runs/compare-<time>)")  # fmt: skip
    cp.add_argument("--overwrite", action="store_true", help="replace a comparison already in --out")
    cp.add_argument("--format", default="table", choices=("table", "json", "csv", "markdown"),
                    help="what to print: the merged summary table, or the runs' tidy tables with a run column "
                         "(default table)")  # fmt: skip
    cp.add_argument("--wide", action="store_true", help="every column, whatever the terminal's width")
    cp.add_argument("--svg", action="store_true", help="also write the curves as SVG")

    rp = sub.add_parser("report", help="redraw every picture and report.html of a stored run from its HDF5 file alone")
    rp.add_argument("run", type=Path, help="run folder or its run.h5")
    rp.add_argument(
        "--visualisers", type=_csv, default=None, help="visualisers to run, a,b (default: the registered defaults)"
    )
    rp.add_argument("--svg", action="store_true", help="also write SVG pictures")
    rp.add_argument("-o", "--option", action="append", default=[], metavar="NAME.KEY=VALUE",
                    help="a visualiser's option, e.g. explorer.max_points=100000 (repeatable)")  # fmt: skip
    np_ = sub.add_parser("new-plugin", help="write a ready-to-install plugin package with a passing test")
    np_.add_argument("name", help="plugin name, e.g. my-pruner (the distribution is gnneval-<name>)")
    np_.add_argument("--kind", required=True, choices=KINDS)
    np_.add_argument("--dir", type=Path, default=Path("."), help="where to create it (default .)")

    hk = sub.add_parser("hooks", help="print the hook reference (from the hook specifications' docstrings)")
    hk.add_argument("--markdown", action="store_true", help="Markdown, as in docs/hooks.md")


def _bench_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backends",
        type=_csv,
        default=list(D.DEFAULT_BACKENDS),
        help=f"benchmark backends: {', '.join(D.BACKENDS)} (torch-sparse: sparse kernels for zeroed "
        f"weights; speed-up over dense eager PyTorch) (default {D.csv(D.DEFAULT_BACKENDS)})",
    )
    p.add_argument(
        "--providers",
        type=_csv,
        default=None,
        help="force ONNX Runtime execution providers, e.g. CUDAExecutionProvider,CPUExecutionProvider",
    )
    p.add_argument(
        "--onnx-exporter",
        default="auto",
        choices=D.EXPORTERS,
        help=D.auto_exporter() + "; or one exporter (default auto)",
    )
    p.add_argument(
        "--onnx-graph",
        default="auto",
        choices=D.ONNX_GRAPHS,
        help="message passing in the ONNX export: sparse (CSR adjacency input, SparseToDenseMatMul; "
        "GCN/GraphSAGE/GIN/GraphConv on CPU), scatter (edge_index, ScatterElements) or auto: "
        "sparse where it applies (default auto)",
    )
    p.add_argument(
        "--sparse-input",
        action="store_true",
        help="torch-sparse: multiply the node features as a CSR matrix where a layer reads them (Cora's "
        "are 98.7%% zeros); it speeds up the dense model too",
    )
    p.add_argument(
        "--sparse-kernels",
        default=D.SPARSE_KERNELS[0],
        choices=D.SPARSE_KERNELS,
        help=f"torch-sparse: csr or 2:4 semi-structured (CUDA; prune with magnitude -o "
        f"magnitude.pattern=2:4) (default {D.SPARSE_KERNELS[0]})",
    )
    p.add_argument(
        "--bench-budget",
        type=float,
        default=D.BENCH_BUDGET_S,
        help=f"seconds of timed runs per backend (default {D.BENCH_BUDGET_S:g})",
    )


def _disabled(flags: list[str]) -> list[str]:
    out = []
    for f in flags:
        if not f.startswith("no:") or len(f) < 4:
            raise UsageError(f"-p {f}: use -p no:NAME to disable a plugin")
        out.append(f[3:])
    return out


def _host(args):
    from gnneval._plugins.manager import build_plugin_host

    trace = (lambda line: sys.stderr.write(f"[trace] {line}\n")) if args.trace_hooks else None
    return build_plugin_host(disabled=_disabled(args.plugin_flags), only=args.only_plugins, trace=trace)


def cmd_plugins(args, out) -> int:
    from rich.table import Table

    host = _host(args)
    if args.name is not None or args.verbose:
        from gnneval.show.plugin_info import matching, registration_lines

        for reg in matching(host.registry, args.name, host.plugins):
            out.print("\n".join(registration_lines(reg)), soft_wrap=True)
        if args.name is not None:
            return 0
    if args.json:
        data = [
            {
                "name": i.name,
                "distribution": i.dist,
                "version": i.version,
                "module": i.module,
                "status": i.status,
                "error": i.error,
                "registers": i.registers,
            }
            for i in host.plugins.values()
        ]
        out.print_json(json.dumps({"plugins": data, "problems": [p.__dict__ for p in host.problems]}))
        return 0
    t = Table(title="gnneval plugins (entry-point group 'gnneval')")
    for col in ("plugin", "distribution", "status", "registers"):
        t.add_column(col)
    for i in sorted(host.plugins.values(), key=lambda p: (p.dist != "gnneval", p.dist, p.name)):
        status = {
            "loaded": "[green]loaded[/green]",
            "failed": "[red]failed[/red]",
            "unavailable": "[yellow]unavailable[/yellow]",
        }.get(i.status, i.status)
        regs = "\n".join(f"{k}: {', '.join(i.registers[k])}" for k in KINDS if k in i.registers)
        opt_in = [
            r.name
            for k in ("metric", "visualiser")
            for r in host.registry.items(k)
            if r.plugin.name == i.name and not r.default
        ]
        if opt_in:
            regs += f" (opt-in: {', '.join(opt_in)})"
        t.add_row(i.name, f"{i.dist} {i.version}", status, regs or i.error)
    out.print(t)
    for prob in host.problems:
        out.print(f"[yellow]problem[/yellow] {prob.where}: {prob.message}", soft_wrap=True)
    return 0


def _declared(host, pruner: str) -> set[str]:
    """The options a pruner declares (its ``__init__``'s keyword arguments)."""
    from gnneval.core.registry import accepted_options

    return accepted_options(host.registry.get("pruner", pruner).obj) or set()


SETTING_OF_ARG = {
    "checkpoint": "checkpoint", "pruner": "pruners", "out": "out_dir", "seed": "seed", "seeds": "seeds",
    "data_root": "data_root",
    "dataset": "dataset", "loader": "loader", "trust": "trust", "task": "task", "transform": "transform",
    "finetune_epochs": "finetune_epochs", "max_params": "max_params", "allow_nonfinite": "allow_nonfinite",
    "plugin_timeout": "plugin_timeout_s", "save_pruned": "save_pruned", "metrics": "metrics",
    "visualisers": "visualisers", "metric_sample": "metric_sample", "metric_nodes": "metric_nodes", "bootstrap": "bootstrap", "backends": "backends",
    "providers": "providers", "onnx_exporter": "onnx_exporter", "onnx_graph": "onnx_graph",
    "bench_budget": "bench_budget_s", "sparse_input": "sparse_input", "sparse_kernels": "sparse_kernels",
    "bench": "bench", "device": "device", "overwrite": "overwrite", "layer": "layer", "split": "split",
    "track": "trackers", "inference": "inference", "store_embeddings": "store_embeddings",
    "store_sample": "store_sample",
}  # fmt: skip
"""Command-line options copied as given into :class:`~gnneval.run.settings.EvaluateSettings` (dest -> field)."""


def _settings(args, **computed):
    """The run's settings, built once: every option of ``SETTING_OF_ARG`` the command has, and ``computed``."""
    from gnneval.run.evaluate import EvaluateSettings

    given = {field: getattr(args, dest) for dest, field in SETTING_OF_ARG.items() if hasattr(args, dest)}
    return EvaluateSettings(**{**given, **computed})


def _loader_options(args) -> dict:
    arch_kwargs = _key_values(args.arch_option, "arch option")
    return {k: v for k, v in (("arch", args.arch), ("code", args.code), ("arch_kwargs", arch_kwargs)) if v}


def _choose_layer(run, layer: str | None) -> None:
    """``--layer`` for a stored run: one of its layers, said in one line otherwise."""
    if layer is None:
        return
    layers = list(run.dense.outputs.embeddings) if run.dense.outputs else list(run.dense.layer_metrics)
    if layer not in layers:
        raise UsageError(f"--layer {layer}: the run has no such layer{suggest(layer, layers)}; its layers: "
                         f"{', '.join(layers) or 'none'}")  # fmt: skip
    run.provenance.settings["layer"] = layer


def _plugin_options(items: list[str]) -> dict[str, dict]:
    """``-o NAME.KEY=VALUE`` items as ``{NAME: {KEY: value}}``."""
    options: dict[str, dict] = {}
    for key, value in _key_values(items, "option").items():
        if "." not in key:
            raise UsageError(f"option '{key}' must be NAME.KEY=VALUE, e.g. magnitude.scope=global")
        name, k = key.split(".", 1)
        options.setdefault(name, {})[k] = value
    return options


def cmd_evaluate(args, out) -> int:
    from rich.console import Console

    from gnneval.run.evaluate import DEFAULT_SPARSITIES, Evaluator
    from gnneval.show.console import print_summary

    host = _host(args)
    options = _plugin_options(args.option)
    visualisers = set(host.registry.names("visualiser")) - set(args.pruner)
    trackers = set(host.registry.names("tracker")) - set(args.pruner)
    pruner_options = {n: o for n, o in options.items() if n not in visualisers | trackers}
    visualiser_options = {n: o for n, o in options.items() if n in visualisers}
    tracker_options = {n: o for n, o in options.items() if n in trackers}
    if args.scope:
        scoped = [n for n in args.pruner if "scope" in _declared(host, n)]
        if not scoped:
            raise UsageError(f"--scope: none of the pruners {','.join(args.pruner)} declares a 'scope' option")
        for name in scoped:
            pruner_options.setdefault(name, {}).setdefault("scope", args.scope)
    settings = _settings(
        args,
        sparsities=args.sparsity if args.sparsity is not None else DEFAULT_SPARSITIES,
        dataset_options=_key_values(args.dataset_option, "dataset option"),
        loader_options=_loader_options(args),
        pruner_options=pruner_options,
        visualiser_options=visualiser_options,
        tracker_options=tracker_options,
        formats=("png", "svg") if args.svg else ("png",),
        command=" ".join(["gnneval", *sys.argv[1:]]),
    )
    result = Evaluator(settings, host, console=Console(stderr=True), show_progress=not args.no_progress).run()
    run_dir = Path(result.files["run"]).parent
    print_summary(result, out, run_dir)
    failed = [v.id for v in result.variants if not v.ok]
    if failed:
        out.print(f"incomplete: {len(failed)} variant(s) failed ({', '.join(failed)}); the others are stored "
                  f"(exit status {D.EXIT_INCOMPLETE})", soft_wrap=True, markup=False)  # fmt: skip
        return D.EXIT_INCOMPLETE
    return D.EXIT_OK


def cmd_bench(args, out) -> int:
    from gnneval.bench.backends import run_backends
    from gnneval.core.problems import ProblemLog, collecting
    from gnneval.load.inputs import load_for_evaluation
    from gnneval.model.assumptions import settle_assumptions
    from gnneval.model.counting import count_flops
    from gnneval.show.console import bench_table

    settings = _settings(args, pruners=[], dataset_options=_key_values(args.dataset_option, "dataset option"))
    host = _host(args)
    with collecting(ProblemLog(host.problems)) as problems:
        loaded = settle_assumptions(load_for_evaluation(settings.load_settings(), host.registry), host.registry)
        results = run_backends(loaded.ckpt.model, loaded.graph, settings.bench_settings(), device=loaded.device)
    flops, _ = count_flops(loaded.ckpt.model, loaded.graph)
    out.print(bench_table(results, loaded.ckpt.architecture, loaded.graph, flops))
    base = next((b.median_ms for b in results if b.backend == "torch" and b.status == "ok"), None)
    for b in results:
        if base and b.status == "ok" and b.backend != "torch":
            out.print(f"{b.backend} / torch eager latency: {b.median_ms / base:.2f}")
    for prob in problems:
        out.print(f"[yellow]problem[/yellow] {prob.where}: {prob.message}", soft_wrap=True)
    return 0


def _batch_passthrough(args) -> list[str]:
    """``batch``'s options that every ``evaluate`` takes as they are."""
    extra: list[str] = []
    for flag, value in (("--transform", args.transform), ("--split", args.split)):
        if value:
            extra += [flag, str(Path(value).resolve()) if flag == "--split" else value]
    if args.finetune_epochs is not None:
        extra += ["--finetune-epochs", str(args.finetune_epochs)]
    for item in args.option:
        extra += ["-o", item]
    for item in args.track:
        extra += ["--track", item]
    return extra


def cmd_batch(args, out) -> int:
    from rich.console import Console

    from gnneval.run.batch import BatchSettings, leaderboard_table, run_batch, write_leaderboard
    from gnneval.run.evaluate import DEFAULT_SPARSITIES

    if args.jobs < 1:
        raise UsageError("--jobs must be 1 or more")
    extra = []
    for flag, value in (
        ("--metrics", args.metrics),
        ("--visualisers", args.visualisers),
        ("--backends", args.backends),
    ):
        if value is not None:
            extra += [flag, value]
    if args.no_bench:
        extra.append("--no-bench")
    extra += _batch_passthrough(args)
    host = _host(args)
    for name in args.pruner:
        host.registry.get("pruner", name)
    s = BatchSettings(
        pruners=args.pruner,
        sparsities=args.sparsity or list(DEFAULT_SPARSITIES),
        out=args.out,
        seed=args.seed,
        seeds=list(args.seeds or []),
        jobs=args.jobs,
        timeout_s=args.timeout,
        tolerance=args.tolerance / 100.0,
        executor=args.executor,
        address=args.address,
        memory_gb=args.memory_per_job,
        data_root=args.data_root,
        extra_args=extra,
    )
    t0 = time.perf_counter()
    results, skipped = run_batch(args.source, s, console=Console(stderr=True), show_progress=not args.no_progress)
    files = write_leaderboard(results, s)
    if args.format != "table":
        from gnneval.run.batch import render_leaderboard

        sys.stdout.write(render_leaderboard(results, args.format))
    else:
        out.print(leaderboard_table(results, s))
    failed = [r for r in results if r.status != "ok"]
    (out if args.format == "table" else Console(stderr=True)).print(
        f"{len(results)} checkpoints: {len(results) - len(failed)} ok ({skipped} already done), "
        f"{len(failed)} failed, in {time.perf_counter() - t0:.1f} s; leaderboard: {files['csv']}, "
        f"{files['json']}" + (f", {files['plot']}" if "plot" in files else ""),
        soft_wrap=True,
        markup=False,
    )
    return 1 if failed else 0


def cmd_show(args, out) -> int:
    from gnneval.show.console import print_summary
    from gnneval.store.stored_run import read_run

    run = read_run(args.run)  # embeddings stay in the file: the summary needs none
    _choose_layer(run, args.layer)
    if args.format != "table":
        from gnneval.show.export import render

        sys.stdout.write(render(run, args.format))
        return 0
    print_summary(run, out, args.run, wide=args.wide)
    return 0


COMPARE_FILES = ("compare.csv", "compare.json", "compare_curves.png", "compare_curves.svg")


def cmd_compare(args, out) -> int:
    from datetime import datetime

    from gnneval.show.compare import compare_columns, compare_rows, differences, draw_overlay, run_labels
    from gnneval.show.console import _print_table, _table, fit
    from gnneval.show.export import render_rows
    from gnneval.store.stored_run import read_run

    if len(args.runs) < 2:
        raise UsageError("gnneval compare needs two or more runs (use gnneval show for one)")
    runs = [read_run(p) for p in args.runs]
    labels = run_labels(list(args.runs))
    folder = args.out or Path("runs") / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    there = [n for n in COMPARE_FILES if (folder / n).exists()]
    if there and not args.overwrite:
        raise UsageError(f"--out {folder} holds a comparison already ({', '.join(there)}); choose another --out, "
                         "or pass --overwrite to replace it")  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    for n in there:
        (folder / n).unlink()
    columns, rows = compare_rows(runs, labels)
    (folder / "compare.csv").write_text(render_rows(rows, columns, "csv"), encoding="utf-8")
    extra = {"runs": [{"label": lab, "path": str(r.path), "checkpoint_sha256": r.provenance.checkpoint_sha256,
                       "dataset": r.provenance.dataset, "split": r.provenance.resolved.get("split")}
                      for lab, r in zip(labels, runs)], "differences": differences(runs, labels)}  # fmt: skip
    (folder / "compare.json").write_text(render_rows(rows, columns, "json", extra), encoding="utf-8")
    pictures = draw_overlay(runs, labels, folder, ("png", "svg") if args.svg else ("png",))
    if args.format != "table":
        sys.stdout.write(render_rows(rows, columns, args.format, extra if args.format == "json" else None))
    else:
        cols, left_out = fit(compare_columns(runs, labels), None if args.wide else out.width)
        _print_table(out, _table(cols, title=f"{len(runs)} runs side by side"), args.wide)
        if left_out:
            out.print(f"left out to fit: {', '.join(c.header for c in left_out)} (--wide shows them)", markup=False)
    for line in differences(runs, labels):
        out.print(f"[yellow]note[/yellow] {line}", soft_wrap=True)
    out.print(f"comparison: {folder} (compare.csv, compare.json, {', '.join(p.name for p in pictures)})",
              soft_wrap=True, markup=False)  # fmt: skip
    return 0


def cmd_report(args, out) -> int:
    from gnneval.core.problems import ProblemLog, collecting
    from gnneval.show.console import print_summary
    from gnneval.show.pictures import ShowSettings, draw_all
    from gnneval.store.hdf5 import read_run, write_run

    h5 = args.run / "run.h5" if args.run.is_dir() else args.run
    run = read_run(h5)
    host = _host(args)
    names = args.visualisers if args.visualisers is not None else host.registry.default_names("visualiser")
    for name in names:
        host.registry.get("visualiser", name)
    options = _plugin_options(args.option)
    for name, opts in options.items():
        host.registry.instantiate("visualiser", name, **opts)  # an unknown name or option: one line, now
    show = ShowSettings(formats=("png", "svg") if args.svg else ("png",), seed=run.provenance.seed, options=options)
    with collecting(ProblemLog(host.problems)) as problems:
        files = draw_all(host.registry, run, h5.parent, names, show)
    from gnneval.show.html_report import write_report

    run.files.update(files)
    run.problems = [p for p in run.problems if not p.where.startswith("visualiser")] + [
        p for p in problems if p.where.startswith("visualiser")
    ]
    run.files["report"] = str(write_report(run, h5.parent))
    write_run(h5, run)
    print_summary(run, out, h5.parent)
    return 0


def cmd_new_plugin(args, out) -> int:
    from gnneval._plugins.scaffold import new_plugin

    root = new_plugin(args.name, args.kind, args.dir)
    out.print(
        f"wrote {root}: `pip install -e '{root}[test]'` then `pytest {root}` (see its README.md)",
        soft_wrap=True,
        markup=False,
    )
    return 0


def cmd_hooks(args, out) -> int:
    from gnneval._plugins.hookdoc import hook_reference

    text = hook_reference()
    sys.stdout.write(text if args.markdown else text.replace("`", ""))
    return 0


COMMANDS = {
    "evaluate": cmd_evaluate,
    "bench": cmd_bench,
    "batch": cmd_batch,
    "plugins": cmd_plugins,
    "show": cmd_show,
    "compare": cmd_compare,
    "report": cmd_report,
    "new-plugin": cmd_new_plugin,
    "hooks": cmd_hooks,
}


SELECTION_FLAGS = ("--metrics", "--visualisers")


def _attach_selections(argv: list[str]) -> list[str]:
    """``--metrics -rbf-cka`` would read as an unknown option: bind a selection that starts with ``-`` or ``+``
    to its flag (``--metrics=-rbf-cka``) before argparse sees it."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if (
            argv[i] in SELECTION_FLAGS
            and i + 1 < len(argv)
            and argv[i + 1][:1] in "+-"
            and len(argv[i + 1]) > 1
            and not argv[i + 1].startswith("--")
        ):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    from gnneval.core.process import forksafe_numba, hide_optional

    hide_optional()  # numba is imported only by what uses it (see gnneval.core.process)

    forksafe_numba()  # a process that ran umap-learn may still fork (gnneval.core.process)
    parser = build_parser()
    parser.argv_seen = _attach_selections(sys.argv[1:] if argv is None else list(argv))  # for a mistyped flag's hint
    try:
        args = parser.parse_args(parser.argv_seen)
    except GnnevalError as exc:  # raised by a type converter, e.g. a bad --sparsity
        sys.stderr.write(f"gnneval: error: {exc}\n")
        return EXIT_USAGE
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    out = Console(width=None if sys.stdout.isatty() else 160)
    try:
        return COMMANDS[args.command](args, out)
    except GnnevalError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"gnneval: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        sys.stderr.write(f"{getattr(exc, 'message', 'gnneval: interrupted')}\n")
        return D.EXIT_INTERRUPTED
    except (MemoryError, RuntimeError) as exc:  # out of memory anywhere else: one line, never allocator text
        from gnneval.core.errors import out_of_memory

        oom = out_of_memory(exc, f"gnneval {args.command}")
        if oom is None or args.debug:
            raise
        sys.stderr.write(f"gnneval: error: {oom}\n")
        return EXIT_USAGE
