"""The typed registry that plugins fill through the ``gnneval_register_*`` hooks.

Each hook receives a small ``register`` object bound to the plugin being
called, so the registry knows who registered what: a duplicate name is
reported naming both plugins, and ``gnneval plugins`` can list what every
plugin provides.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gnneval.errors import PluginError, UsageError, suggest
from gnneval.plugin import CheckpointLoader, DatasetLoader, Metric, Pruner, Visualiser
from gnneval.results import Problem

IN_PROCESS = "<in-process>"
"""The distribution of plugins registered directly (``build_plugin_host(extra=...)``), not by entry point."""

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

KINDS = ("architecture", "checkpoint-loader", "dataset-loader", "pruner", "metric", "visualiser")
"""The kinds of thing a plugin can register, one ``gnneval_register_*`` hook each."""

HOOK_OF_KIND = {
    "architecture": "gnneval_register_architectures",
    "checkpoint-loader": "gnneval_register_checkpoint_loaders",
    "dataset-loader": "gnneval_register_dataset_loaders",
    "pruner": "gnneval_register_pruners",
    "metric": "gnneval_register_metrics",
    "visualiser": "gnneval_register_visualisers",
}

_BASE_OF_KIND: dict[str, type | None] = {
    "architecture": None,  # any callable
    "checkpoint-loader": CheckpointLoader,
    "dataset-loader": DatasetLoader,
    "pruner": Pruner,
    "metric": Metric,
    "visualiser": Visualiser,
}


@dataclass(frozen=True)
class PluginId:
    """Who registered something: the plugin's name, distribution and version."""

    name: str
    dist: str
    version: str

    def __str__(self) -> str:
        if self.dist == IN_PROCESS:
            return f"plugin '{self.name}' (registered in-process)"
        return f"plugin '{self.name}' ({self.dist} {self.version})"


@dataclass
class Registration:
    kind: str
    name: str
    obj: Any  #: a class (loaders, pruners, metrics, visualisers) or a builder callable (architectures)
    plugin: PluginId
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)  #: keyword arguments for the class
    default: bool = True  #: metrics / visualisers: run when the user selects none explicitly


class Registry:
    """Everything registered by every plugin, by kind and name."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Registration]] = {k: {} for k in KINDS}
        self.problems: list[Problem] = []

    # -- filling -----------------------------------------------------------------------------
    def add(self, kind: str, name: str, obj: Any, plugin: PluginId, description: str = "", default: bool = True,
            **options: Any) -> None:
        if kind not in self._items:
            raise PluginError(f"{plugin} registered unknown kind {kind!r}")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise PluginError(
                f"{plugin} registered the {kind} name {name!r}: names are 1-32 characters, "
                "lower-case letters, digits and '-', starting with a letter"
            )
        base = _BASE_OF_KIND[kind]
        if base is None:
            if not callable(obj):
                raise PluginError(f"{plugin} registered {kind} '{name}' as {obj!r}, which is not callable")
        elif not (isinstance(obj, type) and issubclass(obj, base)):
            raise PluginError(
                f"{plugin} registered {kind} '{name}' as {obj!r}; expected a subclass of "
                f"{base.__module__}.{base.__qualname__}"
            )
        existing = self._items[kind].get(name)
        if existing is not None:
            raise PluginError(
                f"{kind} name '{name}' is registered twice: by {existing.plugin} and by {plugin}; "
                f"the second is ignored (disable one with -p no:NAME)"
            )
        if base is not None:
            obj.name = name  # plugins learn the name they were registered under
        self._items[kind][name] = Registration(kind, name, obj, plugin, description, dict(options), bool(default))

    # -- reading -----------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return list(self._items[kind])

    def default_names(self, kind: str) -> list[str]:
        """Names that run when the user selects none (``--metrics`` / ``--visualisers`` not given)."""
        return [r.name for r in self._items[kind].values() if r.default]

    def items(self, kind: str) -> list[Registration]:
        return list(self._items[kind].values())

    def get(self, kind: str, name: str) -> Registration:
        """The registration of ``name``; a one-line UsageError with suggestions if unknown."""
        try:
            return self._items[kind][name]
        except KeyError:
            known = self.names(kind)
            listing = ", ".join(known) if known else "none are installed"
            raise UsageError(
                f"unknown {kind} '{name}'{suggest(name, known)}; available: {listing} "
                "(see `gnneval plugins`)"
            ) from None

    def by_plugin(self, plugin_name: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind in KINDS:
            names = [r.name for r in self._items[kind].values() if r.plugin.name == plugin_name]
            if names:
                out[kind] = names
        return out

    def build_architecture(self, name: str, **kwargs: Any) -> Any:
        reg = self.get("architecture", name)
        return reg.obj(**kwargs)


class _Register:
    """Base of the per-hook ``register`` objects; bound to one plugin."""

    kind = ""

    def __init__(self, registry: Registry, plugin: PluginId) -> None:
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

    def add_architecture(self, name: str, builder: Callable[..., Any], *, description: str = "", **options: Any) -> None:
        """Register ``builder(**kwargs) -> torch.nn.Module`` under ``name``."""
        self._add(name, builder, description, options)


class CheckpointLoaderRegister(_Register):
    """Passed to :func:`gnneval_register_checkpoint_loaders`."""

    kind = "checkpoint-loader"

    def add_checkpoint_loader(self, name: str, cls: type[CheckpointLoader], *, description: str = "", **options: Any) -> None:
        """Register a :class:`~gnneval.plugin.CheckpointLoader` subclass under ``name``."""
        self._add(name, cls, description, options)


class DatasetLoaderRegister(_Register):
    """Passed to :func:`gnneval_register_dataset_loaders`."""

    kind = "dataset-loader"

    def add_dataset_loader(self, name: str, cls: type[DatasetLoader], *, description: str = "", **options: Any) -> None:
        """Register a :class:`~gnneval.plugin.DatasetLoader` subclass under ``name``."""
        self._add(name, cls, description, options)


class PrunerRegister(_Register):
    """Passed to :func:`gnneval_register_pruners`."""

    kind = "pruner"

    def add_pruner(self, name: str, cls: type[Pruner], *, description: str = "", **options: Any) -> None:
        """Register a :class:`~gnneval.plugin.Pruner` subclass under ``name``."""
        self._add(name, cls, description, options)


class MetricRegister(_Register):
    """Passed to :func:`gnneval_register_metrics`."""

    kind = "metric"

    def add_metric(self, name: str, cls: type[Metric], *, description: str = "", default: bool = True,
                   **options: Any) -> None:
        """Register a :class:`~gnneval.plugin.Metric` subclass under ``name``.

        ``default=False`` computes it only when named in ``--metrics``; other keyword
        arguments are passed to the class when it is instantiated."""
        self._add(name, cls, description, options, default)


class VisualiserRegister(_Register):
    """Passed to :func:`gnneval_register_visualisers`."""

    kind = "visualiser"

    def add_visualiser(self, name: str, cls: type[Visualiser], *, description: str = "", default: bool = True,
                       **options: Any) -> None:
        """Register a :class:`~gnneval.plugin.Visualiser` subclass under ``name``.

        ``default=False`` draws it only when named in ``--visualisers``; other keyword
        arguments are passed to the class when it is instantiated."""
        self._add(name, cls, description, options, default)


REGISTER_OF_KIND: dict[str, type[_Register]] = {
    "architecture": ArchitectureRegister,
    "checkpoint-loader": CheckpointLoaderRegister,
    "dataset-loader": DatasetLoaderRegister,
    "pruner": PrunerRegister,
    "metric": MetricRegister,
    "visualiser": VisualiserRegister,
}
