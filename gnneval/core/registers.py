"""The ``register`` objects handed to the ``gnneval_register_*`` hooks (tox's ``register`` pattern).

Each is bound to the plugin being called, so the registry knows who registered what.  A bad
registration (a bad name, a class of the wrong kind, an option the class does not accept, a name
already taken) is reported naming the plugin and skipped; the plugin's other registrations count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from gnneval.core.contract import CheckpointLoader, DatasetLoader, Metric, Pruner, Tracker, Visualiser
from gnneval.core.errors import PluginError
from gnneval.core.records import Problem


class _Registry(Protocol):
    """What a ``register`` object needs of gnneval's registry (:class:`gnneval.core.registry.Registry`)."""

    problems: list[Problem]

    def add(
        self, kind: str, name: str, obj: Any, plugin: Any, description: str = "", default: bool = True, **options: Any
    ) -> None: ...


class _Register:
    """Base of the per-hook ``register`` objects; bound to one plugin."""

    kind = ""

    def __init__(self, registry: _Registry, plugin: object) -> None:  # noqa: D107
        self._registry = registry
        self._plugin = plugin

    def _add(self, name: str, obj: Any, description: str, options: dict[str, Any], default: bool = True) -> None:
        try:
            self._registry.add(self.kind, name, obj, self._plugin, description, default, **options)
        except PluginError as exc:
            # A bad or duplicate registration is reported and skipped; the plugin's other
            # registrations still count.
            self._registry.problems.append(Problem(str(self._plugin), str(exc)))


class ArchitectureRegister(_Register):
    """Passed to :func:`gnneval_register_architectures`."""

    kind = "architecture"

    def add_architecture(
        self, name: str, builder: Callable[..., Any], *, description: str = "", **options: Any
    ) -> None:
        """Register ``builder(**kwargs) -> torch.nn.Module`` under ``name``."""
        self._add(name, builder, description, options)


class CheckpointLoaderRegister(_Register):
    """Passed to :func:`gnneval_register_checkpoint_loaders`."""

    kind = "checkpoint-loader"

    def add_checkpoint_loader(
        self, name: str, cls: type[CheckpointLoader], *, description: str = "", **options: Any
    ) -> None:
        """Register a :class:`~gnneval.core.contract.CheckpointLoader` subclass under ``name``."""
        self._add(name, cls, description, options)


class DatasetLoaderRegister(_Register):
    """Passed to :func:`gnneval_register_dataset_loaders`."""

    kind = "dataset-loader"

    def add_dataset_loader(self, name: str, cls: type[DatasetLoader], *, description: str = "", **options: Any) -> None:
        """Register a :class:`~gnneval.core.contract.DatasetLoader` subclass under ``name``."""
        self._add(name, cls, description, options)


class PrunerRegister(_Register):
    """Passed to :func:`gnneval_register_pruners`."""

    kind = "pruner"

    def add_pruner(self, name: str, cls: type[Pruner], *, description: str = "", **options: Any) -> None:
        """Register a :class:`~gnneval.core.contract.Pruner` subclass under ``name``."""
        self._add(name, cls, description, options)


class MetricRegister(_Register):
    """Passed to :func:`gnneval_register_metrics`."""

    kind = "metric"

    def add_metric(
        self, name: str, cls: type[Metric], *, description: str = "", default: bool = True, **options: Any
    ) -> None:
        """Register a :class:`~gnneval.core.contract.Metric` subclass under ``name``.

        ``default=False`` computes it only when named in ``--metrics``; other keyword
        arguments are passed to the class when it is instantiated."""
        self._add(name, cls, description, options, default)


class VisualiserRegister(_Register):
    """Passed to :func:`gnneval_register_visualisers`."""

    kind = "visualiser"

    def add_visualiser(
        self, name: str, cls: type[Visualiser], *, description: str = "", default: bool = True, **options: Any
    ) -> None:
        """Register a :class:`~gnneval.core.contract.Visualiser` subclass under ``name``.

        ``default=False`` draws it only when named in ``--visualisers``; other keyword
        arguments are passed to the class when it is instantiated."""
        self._add(name, cls, description, options, default)


class TrackerRegister(_Register):
    """Passed to :func:`gnneval_register_trackers`."""

    kind = "tracker"

    def add_tracker(self, name: str, cls: type[Tracker], *, description: str = "", **options: Any) -> None:
        """Register a :class:`~gnneval.core.contract.Tracker` subclass under ``name``: used only when a run names
        it (``--track NAME[=TARGET]``); other keyword arguments are passed to the class."""
        self._add(name, cls, description, options, default=False)
