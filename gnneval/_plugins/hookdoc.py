"""The hook reference, generated from the hook specifications themselves.

``docs/hooks.md`` is this module's output (``gnneval hooks --markdown``); a test
fails when the file and the specifications drift apart.
"""

from __future__ import annotations

import inspect

from gnneval.core import hookspecs

ORDER_NOTE = """\
The ``gnneval_register_*`` hooks run once, in this order, when the plugin manager is built
(``gnneval._plugins.manager.build_plugin_host``); each plugin's implementation is called on its own.
During ``gnneval evaluate`` the notification hooks run in this order:
``gnneval_evaluate_start`` once, ``gnneval_variant_evaluated`` after the dense model and after
each pruned variant, and ``gnneval_evaluate_end`` once.
"""


def hook_names() -> list[str]:
    """Hook names in the order they are defined (and called)."""
    fns = [
        (fn.__code__.co_firstlineno, name)
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("gnneval_")
    ]
    return [name for _line, name in sorted(fns)]


def hook_reference() -> str:
    """Markdown: one section per hook with its signature and full docstring."""
    parts = [
        "# gnneval hook reference\n",
        "Generated from `gnneval/core/hookspecs.py` by `gnneval hooks --markdown`; do not edit by hand.\n",
        ORDER_NOTE,
    ]
    for name in hook_names():
        fn = getattr(hookspecs, name)
        sig = str(inspect.signature(fn)).replace("'", "")
        parts.append(f"## `{name}{sig}`\n")
        parts.append(inspect.getdoc(fn).strip() + "\n")
    return "\n".join(parts)


HELPERS_BEGIN = "# --- generated from HELPERS: do not edit (python -m gnneval._plugins.hookdoc --helpers) ---\n"
HELPERS_END = "# --- end of generated block ---\n"


def _isort_key(entry: str) -> tuple[int, str]:
    """isort's (and ruff's) order by type: CONSTANTS, then Classes, then functions, each alphabetical."""
    name = entry.split(" as ")[0]
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def helpers_table(source: str) -> dict[str, str]:
    """The ``HELPERS`` table of gnneval/plugin/helpers.py, read from its source (the facade is not imported)."""
    import ast

    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "HELPERS":
            return ast.literal_eval(node.value)
    raise LookupError("no HELPERS table")


def helpers_block(source: str) -> str:
    """The ``TYPE_CHECKING`` imports of :mod:`gnneval.plugin.helpers`, generated from its ``HELPERS`` table."""
    HELPERS = helpers_table(source)
    by_module: dict[str, list[str]] = {}
    for name, where in HELPERS.items():
        module, _, attr = where.partition(":")
        by_module.setdefault(module, []).append(f"{attr} as {name}" if attr else name)
    lines = ["if TYPE_CHECKING:  # pragma: no cover\n"]
    for module in sorted(by_module):
        names = sorted(by_module[module], key=_isort_key)
        lines.append(f"    from {module} import (\n" + "".join(f"        {n},\n" for n in names) + "    )\n")
    return HELPERS_BEGIN + "".join(lines) + HELPERS_END


def regenerate_helpers(path: str) -> bool:
    """Rewrite the generated block of ``path`` (gnneval/plugin/helpers.py); True when it changed."""
    from pathlib import Path

    text = Path(path).read_text()
    start, end = text.index(HELPERS_BEGIN), text.index(HELPERS_END) + len(HELPERS_END)
    new = text[:start] + helpers_block(text) + text[end:]
    if new != text:
        Path(path).write_text(new)
    return new != text


if __name__ == "__main__":  # pragma: no cover - python -m gnneval._plugins.hookdoc --helpers
    import sys
    from pathlib import Path

    if "--helpers" in sys.argv:
        helpers = Path(__file__).resolve().parents[1] / "plugin" / "helpers.py"
        print("changed" if regenerate_helpers(str(helpers)) else "unchanged")
    else:
        print(hook_reference())
