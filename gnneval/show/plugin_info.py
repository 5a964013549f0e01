"""``gnneval plugins -v`` and ``gnneval plugins NAME``: what each registered thing is and the options it takes."""

from __future__ import annotations

import inspect
from typing import Any

from gnneval.core.errors import UsageError, suggest
from gnneval.core.registry import KINDS, Registration, Registry, describe, option_docs


def _default(value: Any) -> str:
    return "required" if value is inspect.Parameter.empty else repr(value)


def registration_lines(reg: Registration) -> list[str]:
    """A few lines about one registration: kind and name, description, docstring paragraph, facts, options."""
    obj = reg.obj
    lines = [f"[bold]{reg.kind} {reg.name}[/bold]  ({reg.plugin})" + ("" if reg.default else "  [dim]opt-in[/dim]")]
    if reg.description:
        lines.append(f"  {reg.description}")
    about = describe(obj)
    if about and about != reg.description:
        lines.append(f"  {about}")
    facts = []
    if reg.kind == "metric":
        facts.append(f"level: {obj.level}")
        facts.append(f"tasks: {', '.join(obj.tasks) if obj.tasks else 'every task'}")
        if getattr(obj, "groups", ()):
            facts.append(f"groups: {', '.join(obj.groups)}")
    if reg.kind == "pruner":
        facts.append("structured (removes channels)" if obj.structured else "unstructured (zeroes weights)")
    if facts:
        lines.append("  " + "; ".join(facts))
    options = option_docs(obj)
    if reg.options:
        lines.append(f"  registered with: {', '.join(f'{k}={v!r}' for k, v in reg.options.items())}")
    if options:
        lines.append("  options" + (" (-o NAME.KEY=VALUE):" if reg.kind == "pruner" else ":"))
        lines += [f"    {o.name} = {_default(o.default)}" + (f"  {o.help}" if o.help else "") for o in options]
    elif reg.kind != "architecture":
        lines.append("  options: none")
    return lines


def matching(registry: Registry, name: str | None, plugin_names: dict[str, Any]) -> list[Registration]:
    """Every registration of plugin ``name``, or registered under ``name``; all of them for None."""
    regs = [r for kind in KINDS for r in registry.items(kind)]
    if name is None:
        return regs
    chosen = [r for r in regs if r.name == name or r.plugin.name == name]
    if not chosen:
        known = sorted({r.name for r in regs} | set(plugin_names))
        raise UsageError(f"no plugin or registered name '{name}'{suggest(name, known)}; see `gnneval plugins`")
    return chosen
