"""The hook reference, generated from the hook specifications themselves.

``docs/hooks.md`` is this module's output (``gnneval hooks --markdown``); a test
fails when the file and the specifications drift apart.
"""

from __future__ import annotations

import inspect

from gnneval.plugin import hookspecs

ORDER_NOTE = """\
The ``gnneval_register_*`` hooks run once, in this order, when the plugin manager is built
(``gnneval._plugins.manager.build_plugin_host``); each plugin's implementation is called on its own.
During ``gnneval evaluate`` the notification hooks run in this order:
``gnneval_evaluate_start`` once, ``gnneval_variant_evaluated`` after the dense model and after
each pruned variant, and ``gnneval_evaluate_end`` once.
"""


def hook_names() -> list[str]:
    """Hook names in the order they are defined (and called)."""
    fns = [(fn.__code__.co_firstlineno, name) for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
           if name.startswith("gnneval_")]
    return [name for _line, name in sorted(fns)]


def hook_reference() -> str:
    """Markdown: one section per hook with its signature and full docstring."""
    parts = ["# gnneval hook reference\n", "Generated from `gnneval/plugin/hookspecs.py` by `gnneval hooks --markdown`; "
             "do not edit by hand.\n", ORDER_NOTE]
    for name in hook_names():
        fn = getattr(hookspecs, name)
        sig = str(inspect.signature(fn)).replace("'", "")
        parts.append(f"## `{name}{sig}`\n")
        parts.append(inspect.getdoc(fn).strip() + "\n")
    return "\n".join(parts)
