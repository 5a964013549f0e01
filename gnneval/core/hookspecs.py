"""Hook specifications: the whole contract between gnneval and its plugins.

Every hook is prefixed ``gnneval_``.  The ``gnneval_register_*`` hooks are
called once, when the plugin manager is built, each with a ``register`` object
of its own kind; a plugin adds what it provides through it, by a short unique
name (lower case, digits and ``-``).  gnneval calls each plugin's
implementation separately, in pluggy's order (``tryfirst`` implementations
first, ``trylast`` last, otherwise the plugin loaded last first), so a plugin
that raises is reported by name and the others still register.  A function
named ``gnneval_*`` that is not one of these hooks, or lacks ``@hookimpl``, is
reported as a mistake of its plugin (``gnneval plugins`` shows it).  When two
plugins register the same name, the one called first keeps it and the other is
reported; gnneval's own plugins always keep their names.

The ``gnneval_evaluate_*`` hooks are notifications during ``gnneval evaluate``;
their return values are ignored, and a plugin that raises in one is reported
and does not stop the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

from gnneval.core.contract import PROJECT

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.contract import RunInfo
    from gnneval.core.records import RunResult, VariantResult
    from gnneval.core.registers import (
        ArchitectureRegister,
        CheckpointLoaderRegister,
        DatasetLoaderRegister,
        MetricRegister,
        PrunerRegister,
        TrackerRegister,
        VisualiserRegister,
    )

hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def gnneval_register_architectures(register: ArchitectureRegister) -> None:
    """Register model architectures that checkpoints can name as data.

    Called once when the plugin manager is built.  A native checkpoint stores
    ``{"name": "gcn", "kwargs": {...}}`` and the loader rebuilds the model with
    the builder registered under that name.

    :param register: call ``register.add_architecture(name, builder, description=...)``
        where ``builder(**kwargs)`` returns a ``torch.nn.Module``.
    :returns: nothing.
    """


@hookspec
def gnneval_register_checkpoint_loaders(register: CheckpointLoaderRegister) -> None:
    """Register checkpoint loaders.

    Called once when the plugin manager is built.  When a checkpoint is
    evaluated, the loaders are tried in order of their ``priority`` (highest
    first, then registration order) and the first whose ``load()`` returns a
    result wins; ``--loader NAME`` forces one.

    :param register: call ``register.add_checkpoint_loader(name, cls, description=...)``
        with a subclass of :class:`gnneval.core.contract.CheckpointLoader`.
    :returns: nothing.
    """


@hookspec
def gnneval_register_dataset_loaders(register: DatasetLoaderRegister) -> None:
    """Register dataset loaders.

    Called once when the plugin manager is built.  A dataset named by a
    checkpoint's metadata or by ``--dataset`` is loaded by the loader the
    metadata names, else by the first loader whose ``handles(name)`` is true.

    :param register: call ``register.add_dataset_loader(name, cls, description=...)``
        with a subclass of :class:`gnneval.core.contract.DatasetLoader`.
    :returns: nothing.
    """


@hookspec
def gnneval_register_pruners(register: PrunerRegister) -> None:
    """Register pruners, selectable with ``--pruner NAME``.

    Called once when the plugin manager is built.  For each sparsity, the
    pipeline instantiates the class and calls ``prune(model, sparsity, ctx)``
    on a fresh copy of the dense model.

    :param register: call ``register.add_pruner(name, cls, description=...)``
        with a subclass of :class:`gnneval.core.contract.Pruner`.
    :returns: nothing.
    """


@hookspec
def gnneval_register_metrics(register: MetricRegister) -> None:
    """Register metrics, computed for every variant (and, for layer metrics, every layer).

    Called once when the plugin manager is built.  ``--metrics a,b`` picks a
    subset; by default every registered metric runs.

    :param register: call ``register.add_metric(name, cls, description=...)``
        with a subclass of :class:`gnneval.core.contract.Metric`.
    :returns: nothing.
    """


@hookspec
def gnneval_register_visualisers(register: VisualiserRegister) -> None:
    """Register visualisers, which draw pictures from a run's stored results.

    Called once when the plugin manager is built.  After a run is stored, each
    selected visualiser's ``draw(ctx)`` is called with the results read back
    from the run's HDF5 file.

    :param register: call ``register.add_visualiser(name, cls, description=...)``
        with a subclass of :class:`gnneval.core.contract.Visualiser`.
    :returns: nothing.
    """


@hookspec
def gnneval_register_trackers(register: TrackerRegister) -> None:
    """Register experiment trackers, which send a run to MLflow, TensorBoard, Weights & Biases, ...

    Called once when the plugin manager is built.  A tracker runs only in a run that names it
    (``--track NAME[=TARGET]``, repeatable); its ``start``, ``log_variant`` and ``finish`` are called as
    :class:`gnneval.core.contract.Tracker` describes.

    :param register: call ``register.add_tracker(name, cls, description=...)`` with a subclass of
        :class:`gnneval.core.contract.Tracker`.
    :returns: nothing.
    """


@hookspec
def gnneval_evaluate_start(run: RunInfo) -> None:
    """Called once at the start of ``gnneval evaluate``, after the settings are checked and before anything
    is loaded.

    :param run: what the run will do: checkpoint, run folder, pruners, sparsities, seed, device, and the
        metrics and visualisers selected (:class:`gnneval.plugin.RunInfo`).
    :returns: nothing (ignored).
    """


@hookspec
def gnneval_variant_evaluated(variant: VariantResult, run_dir: Path) -> None:
    """Called after each variant (the dense model first) is evaluated and stored.

    :param variant: the variant's results, including failed ones (``variant.status``).
    :param run_dir: the run's output folder.
    :returns: nothing (ignored).
    """


@hookspec
def gnneval_evaluate_end(result: RunResult, run_dir: Path) -> None:
    """Called once at the end of ``gnneval evaluate``, after storage and plots.

    :param result: the whole run, as stored.
    :param run_dir: the run's output folder.
    :returns: nothing (ignored).
    """
