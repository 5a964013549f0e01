"""The typed registry that plugins fill through the ``gnneval_register_*`` hooks.

Each hook receives a small ``register`` object bound to the plugin being
called, so the registry knows who registered what: a duplicate name is
reported naming both plugins, and ``gnneval plugins`` can list what every
plugin provides.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, get_args

from gnneval.core.contract import (
    TASKS,
    CheckpointLoader,
    DatasetLoader,
    Level,
    Metric,
    Pruner,
    Tracker,
    Visualiser,
    _Configurable,
)
from gnneval.core.errors import PluginError, UsageError, suggest
from gnneval.core.records import Column, Problem
from gnneval.core.registers import (
    ArchitectureRegister,
    CheckpointLoaderRegister,
    DatasetLoaderRegister,
    MetricRegister,
    PrunerRegister,
    TrackerRegister,
    VisualiserRegister,
    _Register,
)

IN_PROCESS = "<in-process>"
"""The distribution of plugins registered directly (``build_plugin_host(extra=...)``), not by entry point."""

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")

KINDS = ("architecture", "checkpoint-loader", "dataset-loader", "pruner", "metric", "visualiser", "tracker")
"""The kinds of thing a plugin can register, one ``gnneval_register_*`` hook each."""

HOOK_OF_KIND = {
    "architecture": "gnneval_register_architectures",
    "checkpoint-loader": "gnneval_register_checkpoint_loaders",
    "dataset-loader": "gnneval_register_dataset_loaders",
    "pruner": "gnneval_register_pruners",
    "metric": "gnneval_register_metrics",
    "visualiser": "gnneval_register_visualisers",
    "tracker": "gnneval_register_trackers",
}

_BASE_OF_KIND: dict[str, type | None] = {
    "architecture": None,  # any callable
    "checkpoint-loader": CheckpointLoader,
    "dataset-loader": DatasetLoader,
    "pruner": Pruner,
    "metric": Metric,
    "visualiser": Visualiser,
    "tracker": Tracker,
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
    def add(
        self,
        kind: str,
        name: str,
        obj: Any,
        plugin: PluginId,
        description: str = "",
        default: bool = True,
        **options: Any,
    ) -> None:
        """Add one registration after checking it; raises PluginError (one line, naming the plugin) if bad."""
        if kind not in self._items:
            raise PluginError(f"{plugin} registered unknown kind {kind!r}")
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise PluginError(
                f"{plugin} registered the {kind} name {name!r}: names are 1-32 characters, "
                "lower-case letters, digits and '-', starting with a letter"
            )
        _check_object(kind, name, obj, plugin)
        bad = option_problem(obj, options)
        if bad:
            raise PluginError(f"{plugin} registered {kind} '{name}' with {bad}")
        existing = self._items[kind].get(name)
        if existing is not None:
            if plugin.dist == BUILTIN_DIST and existing.plugin.dist != BUILTIN_DIST:
                del self._items[kind][name]  # a built-in always wins, whatever the load order
                self.problems.append(Problem(str(existing.plugin), _clash(kind, name, plugin, existing.plugin)))
            else:
                raise PluginError(_clash(kind, name, existing.plugin, plugin))
        if isinstance(obj, type):
            obj.name = name  # type: ignore[attr-defined]  # plugins learn the name they were registered under
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
                f"unknown {kind} '{name}'{suggest(name, known)}; available: {listing} (see `gnneval plugins`)"
            ) from None

    def by_plugin(self, plugin_name: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for kind in KINDS:
            names = [r.name for r in self._items[kind].values() if r.plugin.name == plugin_name]
            if names:
                out[kind] = names
        return out

    def build_architecture(self, name: str, **kwargs: Any) -> Any:
        """Build a registered architecture: its registration options, overridden by ``kwargs``."""
        reg = self.get("architecture", name)
        return reg.obj(**{**reg.options, **kwargs})

    def instantiate(self, kind: str, name: str, **user_options: Any) -> Any:
        """An instance of a registered class with its registration options merged with the user's
        (``-o NAME.KEY=VALUE``); an option the class does not accept is a one-line UsageError."""
        reg = self.get(kind, name)
        bad = option_problem(reg.obj, user_options)
        if bad:
            raise UsageError(f"{kind} '{name}' ({reg.plugin}) was given {bad}")
        return reg.obj(**{**reg.options, **user_options})


BUILTIN_DIST = "gnneval"
"""Plugins of this distribution are gnneval's own: they win every name clash, whatever the load order."""


def _clash(kind: str, name: str, kept: PluginId, ignored: PluginId) -> str:
    return (
        f"{kind} name '{name}' is registered by both {kept} and {ignored}; {ignored} is ignored "
        f"(rename it, or disable one with -p no:PLUGIN)"
    )


def _check_object(kind: str, name: str, obj: Any, plugin: PluginId) -> None:
    base = _BASE_OF_KIND[kind]
    if base is None:
        if not callable(obj):
            raise PluginError(f"{plugin} registered {kind} '{name}' as {obj!r}, which is not callable")
        return
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise PluginError(
            f"{plugin} registered {kind} '{name}' as {obj!r}; expected a subclass of gnneval.plugin.{base.__qualname__}"
        )
    if issubclass(obj, Metric):
        _check_metric(name, obj, plugin)
    if issubclass(obj, Pruner) and not isinstance(getattr(obj, "structured", False), bool):
        raise PluginError(f"{plugin} registered pruner '{name}' with structured={obj.structured!r}; use True or False")


def _check_metric(name: str, cls: type[Metric], plugin: PluginId) -> None:
    if cls.level not in get_args(Level):
        raise PluginError(f"{plugin} registered metric '{name}' with level={cls.level!r}; use 'variant' or 'layer'")
    tasks = cls.tasks
    if tasks is not None and (isinstance(tasks, str) or any(t not in TASKS for t in tasks)):
        raise PluginError(
            f"{plugin} registered metric '{name}' with tasks={tasks!r}; give a tuple of "
            f"{', '.join(TASKS)} (or None for every task)"
        )
    for key, col in dict(cls.summary).items():
        if not isinstance(col, Column):
            raise PluginError(
                f"{plugin} registered metric '{name}' whose summary[{key!r}] is {col!r}; "
                "use gnneval.plugin.Column('label', '{:.3f}')"
            )


def _parameters(obj: Any) -> list[inspect.Parameter] | None:
    """The keyword parameters ``obj`` (a plugin class or an architecture builder) takes; None for any."""
    init = obj.__init__ if isinstance(obj, type) else obj  # type: ignore[misc]
    if isinstance(obj, type) and init is _Configurable.__init__:
        return None
    try:
        params = list(inspect.signature(init).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]


def accepted_options(obj: Any) -> set[str] | None:
    """The option names ``obj`` (a plugin class or an architecture builder) accepts; None for any."""
    declared = getattr(obj, "options_doc", None)  # deprecated since API 1.1
    if declared:
        return set(declared)
    params = _parameters(obj)
    return None if params is None else {p.name for p in params}


@dataclass(frozen=True)
class OptionDoc:
    """One option of a plugin class, as ``gnneval plugins NAME`` shows it."""

    name: str
    default: Any  #: ``inspect.Parameter.empty`` when it has none
    annotation: str
    help: str


def args_section(doc: str | None) -> dict[str, str]:
    """The entries of a Google-style ``Args:`` section (PyG's and scikit-learn's docstrings): name -> text."""
    lines = inspect.cleandoc(doc or "").splitlines()
    out: dict[str, str] = {}
    inside, indent, current = False, 0, ""
    for line in lines:
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            inside, indent, current = True, len(line) - len(line.lstrip()), ""
            continue
        if not inside:
            continue
        if stripped and len(line) - len(line.lstrip()) <= indent:
            inside = False
            continue
        m = re.match(r"^\s+([A-Za-z_]\w*)\s*(?:\([^)]*\))?:\s*(.*)$", line)
        if m and (not current or len(line) - len(line.lstrip()) <= indent + 4):
            current = m.group(1)
            out[current] = m.group(2)
        elif current and stripped:
            out[current] += " " + stripped
    return out


def describe(obj: Any) -> str:
    """The first paragraph of a plugin class's docstring (what ``gnneval plugins -v`` prints)."""
    doc = inspect.cleandoc(getattr(obj, "__doc__", None) or "")
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def option_docs(obj: Any) -> list[OptionDoc]:
    """Every option ``obj`` declares: name, default, type and meaning (from its ``Args:`` docstring)."""
    helps: dict[str, str] = {}
    for cls in reversed(obj.__mro__) if isinstance(obj, type) else [obj]:  # a subclass's word wins
        helps.update(args_section(cls.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__))
        init = cls.__dict__.get("__init__") if isinstance(obj, type) else None
        if init is not None:
            helps.update(args_section(init.__doc__))
    params = _parameters(obj)
    if params is None:
        legacy = getattr(obj, "options_doc", None) or {}
        return [OptionDoc(n, inspect.Parameter.empty, "", h) for n, h in legacy.items()]
    return [
        OptionDoc(p.name, p.default, str(p.annotation) if p.annotation is not p.empty else "", helps.get(p.name, ""))
        for p in params
    ]


def option_problem(obj: Any, options: dict[str, Any]) -> str:
    """``""`` if ``obj`` accepts every option in ``options``, else what is wrong, naming the options."""
    accepted = accepted_options(obj)
    if accepted is None:
        return ""
    unknown = sorted(set(options) - accepted)
    if not unknown:
        return ""
    listing = ", ".join(sorted(accepted)) if accepted else "none"
    return f"the option(s) {', '.join(unknown)}, which it does not accept (it accepts: {listing})"


REGISTER_OF_KIND: dict[str, type[_Register]] = {
    "architecture": ArchitectureRegister,
    "checkpoint-loader": CheckpointLoaderRegister,
    "dataset-loader": DatasetLoaderRegister,
    "pruner": PrunerRegister,
    "metric": MetricRegister,
    "visualiser": VisualiserRegister,
    "tracker": TrackerRegister,
}
