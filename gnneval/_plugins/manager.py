"""Building the plugin manager: entry-point discovery, isolation and reporting.

Entry points in the ``gnneval`` group are loaded one at a time, each inside
its own try/except, so one broken plugin is reported by name and never stops
the others (pluggy's ``load_setuptools_entrypoints`` stops at the first).
Nothing here runs at import time: call :func:`build_plugin_host`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import Distribution, EntryPoint, distributions
from pathlib import Path
from typing import Any

import pluggy

from gnneval.core import hookspecs
from gnneval.core.contract import PROJECT
from gnneval.core.errors import PluginError, one_line, suggest
from gnneval.core.problems import collecting, current, report
from gnneval.core.records import Problem
from gnneval.core.registry import (
    BUILTIN_DIST,
    HOOK_OF_KIND,
    IN_PROCESS,
    KINDS,
    REGISTER_OF_KIND,
    PluginId,
    Registry,
)

ENTRY_POINT_GROUP = "gnneval"
DISABLE_ENV = "GNNEVAL_DISABLE_PLUGINS"
"""Comma-separated plugin names to skip, like ``-p no:NAME`` on the command line."""


@dataclass
class PluginInfo:
    """One plugin as ``gnneval plugins`` shows it."""

    name: str
    dist: str
    version: str
    module: str
    status: str = "loaded"
    """``loaded``; ``invalid`` (loaded, but with a mistake such as a misspelt hook: see ``error``); ``failed``
    (its import or a registration hook raised); ``unavailable`` (a dependency is missing); ``disabled``."""
    error: str = ""
    registers: dict[str, list[str]] = field(default_factory=dict)  #: kind -> names

    @property
    def id(self) -> PluginId:
        return PluginId(self.name, self.dist, self.version)


@dataclass
class PluginHost:
    """The plugin manager plus what was found, registered and what failed."""

    pm: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    registry: Registry
    problems: list[Problem]
    trace: Callable[[str], None] | None = None  #: receives one line per hook call when tracing

    def call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of a notification hook, isolating failures.

        A plugin that raises is reported by name (to the run being collected, :mod:`gnneval.core.problems`,
        else in :attr:`problems`); the others are still called.  Returns the non-None results.
        """
        log = current()
        problems = log.items if log is not None else self.problems
        results: list[Any] = []
        hook = getattr(self.pm.hook, hook_name)
        for impl in call_order(hook):
            info = self.plugins.get(impl.plugin_name)
            who = str(info.id) if info else f"plugin '{impl.plugin_name}'"
            try:
                res = _call(impl, {k: kwargs[k] for k in impl.argnames}, hook_name, who, self.trace)
            except Exception as exc:  # noqa: BLE001 - a plugin must not stop the run
                problems.append(Problem(who, f"{hook_name} raised {one_line(exc)}"))
                continue
            except SystemExit as exc:
                problems.append(Problem(who, f"{hook_name} called sys.exit({exc.code!r})"))
                continue
            if res is not None:
                results.append(res)
        return results


def call_order(hook: Any) -> list[Any]:
    """The implementations of ``hook`` in the order pluggy itself calls them: ``tryfirst`` first, ``trylast``
    last, otherwise the plugin registered last first.  Each is then called on its own, so one that raises
    is reported by name and the others still run."""
    return list(reversed(hook.get_hookimpls()))


def _call(impl: Any, kwargs: dict[str, Any], hook_name: str, who: str, trace: Callable[[str], None] | None) -> Any:
    """Call one hook implementation, writing a trace line before and after when tracing."""
    if trace is None:
        return impl.function(**kwargs)
    args = ", ".join(f"{k}={type(v).__name__}" for k, v in kwargs.items())
    trace(f"hook {hook_name}({args}) -> {who}")
    t0 = time.perf_counter()
    try:
        res = impl.function(**kwargs)
    except Exception as exc:
        trace(f"hook {hook_name} <- {who} raised {one_line(exc)} after {1e3 * (time.perf_counter() - t0):.1f} ms")
        raise
    trace(f"hook {hook_name} <- {who} returned {type(res).__name__} in {1e3 * (time.perf_counter() - t0):.1f} ms")
    return res


def discover_entry_points() -> list[EntryPoint]:
    """Every entry point of the ``gnneval`` group, one metadata copy per distribution.

    A distribution can be found twice: installed, and as a stale ``*.egg-info`` in the working directory
    (a source checkout).  ``importlib.metadata`` would take whichever comes first on ``sys.path``, so what
    loads would depend on the working directory; here the copy outside the working directory wins, and
    the duplicate is reported."""
    by_dist: dict[str, list[Distribution]] = {}
    for dist in distributions():
        name = (dist.metadata["Name"] or "?").lower().replace("_", "-")
        if any(ep.group == ENTRY_POINT_GROUP for ep in dist.entry_points):
            by_dist.setdefault(name, []).append(dist)
    cwd = Path.cwd().resolve()
    out: list[EntryPoint] = []
    for name, copies in by_dist.items():
        chosen = sorted(copies, key=lambda d: _in_source_tree(d, cwd))[0]
        differing = [d for d in copies if _group_eps(d) != _group_eps(chosen)]
        if differing:
            report(
                f"distribution '{name}'",
                "its metadata is found more than once with different "
                f"entry points; using {getattr(chosen, '_path', '?')}, ignoring "
                + ", ".join(str(getattr(d, "_path", "?")) for d in differing)
                + " (a stale copy: delete it)",
            )
        out.extend(ep for ep in chosen.entry_points if ep.group == ENTRY_POINT_GROUP)
    return out


def _group_eps(dist: Distribution) -> set[tuple[str, str]]:
    return {(ep.name, ep.value) for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP}


def _in_source_tree(dist: Distribution, cwd: Path) -> tuple[bool, bool]:
    """Sort key: metadata lying directly in the working directory (a checkout's build left-over) last,
    then ``.egg-info`` after ``.dist-info``."""
    path = getattr(dist, "_path", None)
    if path is None:
        return (True, True)
    path = Path(path)
    try:
        beside = path.resolve().parent == cwd
    except OSError:
        beside = True
    return (beside, path.suffix == ".egg-info")


def _parse_disabled(disabled: Iterable[str]) -> set[str]:
    names = {d.strip() for d in disabled if d.strip()}
    env = os.environ.get(DISABLE_ENV, "")
    names |= {d.strip() for d in env.split(",") if d.strip()}
    return names


def build_plugin_host(
    *,
    disabled: Iterable[str] = (),
    only: Sequence[str] | None = None,
    extra: Sequence[tuple[str, Any]] = (),
    use_entry_points: bool = True,
    trace: Callable[[str], None] | None = None,
) -> PluginHost:
    """Discover plugins, register them with a fresh pluggy manager and fill the registry.

    :param disabled: plugin names to skip (``-p no:NAME``); ``$GNNEVAL_DISABLE_PLUGINS`` adds more.
    :param only: if given, load only these plugin names.
    :param extra: ``(name, plugin object)`` pairs registered after the entry points
        (used by tests and by programs embedding gnneval).
    :param use_entry_points: set False for a manager with only ``extra`` plugins.
    :param trace: if given, called with one line before and after every hook call
        (``gnneval --trace-hooks``).
    :returns: the :class:`PluginHost`; failures are in ``host.problems``, never raised.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    skip = _parse_disabled(disabled)
    wanted = set(only) if only is not None else None
    plugins: dict[str, PluginInfo] = {}
    with collecting() as log:  # the host's own problems (loading, registering), never a caller's run
        for name, dist, ver, source in _candidates(use_entry_points, extra):
            module_name = source.value if _is_entry_point(source) else str(getattr(source, "__name__", source))
            if name in plugins:
                first = plugins[name]
                report(
                    f"plugin '{name}' ({dist} {ver})",
                    f"the plugin name '{name}' is already used by {first.dist} {first.version}; "
                    f"this one is ignored (uninstall one, or disable it with -p no:{name})",
                )
                continue
            info = plugins[name] = PluginInfo(name, dist, ver, module_name)
            if name in skip or (wanted is not None and name not in wanted):
                info.status = "disabled"
                continue
            if trace:
                trace(f"load plugin '{name}' from {dist} {ver} ({module_name})")
            _load_one(pm, source, info)
        if wanted is not None:
            for name in sorted(wanted - set(plugins)):
                report(f"plugin '{name}'", "was asked for but is not installed")
        registry = _fill_registry(pm, plugins, trace)
    return PluginHost(pm=pm, plugins=plugins, registry=registry, problems=log.items, trace=trace)


def _candidates(use_entry_points: bool, extra: Sequence[tuple[str, Any]]) -> list[tuple[str, str, str, Any]]:
    """``(name, distribution, version, entry point or object)`` in load order: gnneval's own plugins first,
    then by distribution and name, so the order never depends on ``sys.path`` (the working directory);
    in-process ``extra`` plugins last."""
    found: list[tuple[str, str, str, Any]] = []
    if use_entry_points:
        for ep in discover_entry_points():
            dist = ep.dist.name if ep.dist is not None else "?"
            ver = ep.dist.version if ep.dist is not None else "?"
            found.append((ep.name, dist, ver, ep))
    found.sort(key=lambda c: (c[1] != BUILTIN_DIST, c[1].lower(), c[0]))
    return found + [(name, IN_PROCESS, "", obj) for name, obj in extra]


def _is_entry_point(source: Any) -> bool:
    """An entry point of either metadata library: once the ``importlib_metadata`` backport is imported (MLflow
    does), ``distributions()`` yields its ``EntryPoint`` class, not ``importlib.metadata``'s."""
    return isinstance(source, EntryPoint) or all(hasattr(source, a) for a in ("load", "value", "group", "dist"))


def _load_one(pm: pluggy.PluginManager, source: Any, info: PluginInfo) -> None:
    """Import one plugin and register it with pluggy; a failure is recorded on ``info`` and reported."""
    try:
        obj = source.load() if _is_entry_point(source) else source
        pm.register(obj, name=info.name)
        _check_hook_names(pm, obj, info.name, info)
    except ImportError as exc:  # an optional dependency is missing: unavailable, not broken
        info.status = "unavailable"
        missing = getattr(exc, "name", None)
        info.error = f"needs '{missing}', which is not installed" if missing else one_line(exc)
        report(str(info.id), f"unavailable: {info.error}")
    except Exception as exc:  # noqa: BLE001 - report, keep going
        info.status = "failed"
        info.error = one_line(exc)
        report(str(info.id), f"failed to load: {info.error}")


def _fill_registry(
    pm: pluggy.PluginManager,
    plugins: dict[str, PluginInfo],
    trace: Callable[[str], None] | None,
) -> Registry:
    """Call every ``gnneval_register_*`` implementation, one at a time, in pluggy's order."""
    registry = Registry()
    for kind in KINDS:
        hook_name = HOOK_OF_KIND[kind]
        for impl in call_order(getattr(pm.hook, hook_name)):
            info = plugins.get(impl.plugin_name)
            pid = info.id if info else PluginId(impl.plugin_name, "?", "?")
            try:
                if impl.hookwrapper or getattr(impl, "wrapper", False):
                    raise PluginError("hook wrappers are not supported for gnneval's hooks; use a plain @hookimpl")
                _call(
                    impl, {a: REGISTER_OF_KIND[kind](registry, pid) for a in impl.argnames}, hook_name, str(pid), trace
                )
            except Exception as exc:  # noqa: BLE001
                msg = f"{hook_name} raised {one_line(exc)}"
                report(str(pid), msg)
                if info is not None:
                    info.status, info.error = "failed", msg
    log = current()
    assert log is not None, "called inside build_plugin_host's collecting()"
    log.extend(registry.problems)
    registry.problems = log.items
    for info in plugins.values():
        info.registers = registry.by_plugin(info.name)
    return registry


def _check_hook_names(pm: pluggy.PluginManager, obj: Any, name: str, info: PluginInfo) -> None:
    """A misspelt hook (``gnneval_register_pruner``) or a hook function without ``@hookimpl`` would be
    silently ignored by pluggy: report each by the plugin's name, with the closest real hook name.
    The plugin's correctly named hooks still count (pluggy's ``check_pending`` would stop everything)."""
    known = [h for h in dir(hookspecs) if h.startswith("gnneval_")]
    for attr in sorted(dir(obj)):
        if not attr.startswith("gnneval_") or not callable(getattr(obj, attr, None)):
            continue
        marked = pm.parse_hookimpl_opts(obj, attr) is not None
        if attr in known and marked:
            continue
        if attr not in known:
            msg = f"defines hook '{attr}', which is not a gnneval hook{suggest(attr, known)}; it is never called"
        else:
            msg = f"defines '{attr}' without @hookimpl (from gnneval.plugin import hookimpl); it is never called"
        info.status = "invalid"
        info.error = msg
        report(str(info.id), msg)
