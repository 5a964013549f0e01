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
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from gnneval import hookspecs
from gnneval.errors import one_line
from gnneval.plugin import PROJECT
from gnneval.registry import HOOK_OF_KIND, IN_PROCESS, KINDS, REGISTER_OF_KIND, PluginId, Registry
from gnneval.results import Problem

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
    status: str = "loaded"  #: ``loaded``, ``failed``, ``unavailable`` (a dependency is missing) or ``disabled``
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

    def call_each(self, hook_name: str, problems: list[Problem] | None = None, **kwargs: Any) -> list[Any]:
        """Call every implementation of a notification hook, isolating failures.

        A plugin that raises is recorded (in ``problems``, else in :attr:`problems`)
        by name; the others are still called.  Returns the non-None results.
        """
        problems = self.problems if problems is None else problems
        results = []
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order
            info = self.plugins.get(impl.plugin_name)
            who = str(info.id) if info else f"plugin '{impl.plugin_name}'"
            try:
                res = _call(impl, {k: kwargs[k] for k in impl.argnames}, hook_name, who, self.trace)
            except Exception as exc:  # noqa: BLE001 - a plugin must not stop the run
                problems.append(Problem(who, f"{hook_name} raised {one_line(exc)}"))
                continue
            if res is not None:
                results.append(res)
        return results


def _call(impl: Any, kwargs: dict[str, Any], hook_name: str, who: str,
          trace: Callable[[str], None] | None) -> Any:
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


def _dedupe(eps: Iterable[EntryPoint]) -> list[EntryPoint]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for ep in eps:
        dist = ep.dist.name if ep.dist is not None else "?"
        key = (ep.name, ep.value, dist)
        if key not in seen:  # the same distribution can be on sys.path twice
            seen.add(key)
            out.append(ep)
    return out


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
    problems: list[Problem] = []

    candidates: list[tuple[str, str, str, Any]] = []  # name, dist, version, loader-thunk
    if use_entry_points:
        for ep in _dedupe(entry_points(group=ENTRY_POINT_GROUP)):
            dist = ep.dist.name if ep.dist is not None else "?"
            ver = ep.dist.version if ep.dist is not None else "?"
            candidates.append((ep.name, dist, ver, ep))
    for name, obj in extra:
        candidates.append((name, IN_PROCESS, "", obj))

    for name, dist, ver, source in candidates:
        module_name = source.value if isinstance(source, EntryPoint) else str(getattr(source, "__name__", source))
        if name in plugins:
            first = plugins[name]
            problems.append(
                Problem(
                    f"plugin '{name}' ({dist} {ver})",
                    f"the plugin name '{name}' is already used by {first.dist} {first.version}; "
                    f"this one is ignored (uninstall one, or disable it with -p no:{name})",
                )
            )
            continue
        info = PluginInfo(name, dist, ver, module_name)
        plugins[name] = info
        if name in skip or (wanted is not None and name not in wanted):
            info.status = "disabled"
            continue
        if trace:
            trace(f"load plugin '{name}' from {dist} {ver} ({module_name})")
        try:
            obj = source.load() if isinstance(source, EntryPoint) else source
            pm.register(obj, name=name)
        except ImportError as exc:  # an optional dependency is missing: unavailable, not broken
            info.status = "unavailable"
            missing = getattr(exc, "name", None)
            info.error = (f"needs '{missing}', which is not installed" if missing else one_line(exc))
            problems.append(Problem(str(info.id), f"unavailable: {info.error}"))
        except Exception as exc:  # noqa: BLE001 - report, keep going
            info.status = "failed"
            info.error = one_line(exc)
            problems.append(Problem(str(info.id), f"failed to load: {info.error}"))

    if wanted is not None:
        for name in sorted(wanted - set(plugins)):
            problems.append(Problem(f"plugin '{name}'", "was asked for but is not installed"))

    registry = Registry()
    for kind in KINDS:
        hook = getattr(pm.hook, HOOK_OF_KIND[kind])
        for impl in hook.get_hookimpls():  # registration order
            info = plugins.get(impl.plugin_name)
            pid = info.id if info else PluginId(impl.plugin_name, "?", "?")
            register = REGISTER_OF_KIND[kind](registry, pid)
            try:
                _call(impl, {a: register for a in impl.argnames}, HOOK_OF_KIND[kind], str(pid), trace)
            except Exception as exc:  # noqa: BLE001
                msg = f"{HOOK_OF_KIND[kind]} raised {one_line(exc)}"
                problems.append(Problem(str(pid), msg))
                if info is not None:
                    info.status = "failed"
                    info.error = msg
    problems.extend(registry.problems)
    registry.problems = problems
    for info in plugins.values():
        info.registers = registry.by_plugin(info.name)
    return PluginHost(pm=pm, plugins=plugins, registry=registry, problems=problems, trace=trace)
