"""Errors that reach the user as one line.

Everything the user can fix (a missing file, an unknown pruner, a bad sparsity)
raises :class:`UsageError`; the CLI prints its message on one line and exits
with status 2.  A plugin that misbehaves raises or is wrapped in
:class:`PluginError`, which names the plugin and its distribution.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GnnevalError(Exception):
    """Base class of every error gnneval reports to the user."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a plugin raising KeyboardInterrupt) stopped a run; ``message`` says truthfully what was kept."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(GnnevalError):
    """Bad input: the message says what was wrong and what to do."""


class PluginError(GnnevalError):
    """A plugin failed; the message names the plugin and its distribution."""


class UnsupportedModelError(GnnevalError):
    """A pruner met a model structure it cannot change safely."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'a' or 'b'?)"`` for close names, else ``""``: first the names that hold ``name``
    as a part (``cka`` -> ``linear-cka``, ``rbf-cka``), then those spelt alike (``magnitud`` -> ``magnitude``)."""
    names = list(choices)
    key = name.lower().strip("-")
    parts = sorted((c for c in names if key and (key in c.lower().split("-") or c.lower().startswith(key))),
                   key=lambda c: (c.lower().split("-")[0] != key and not c.lower().endswith("-" + key), len(c)))  # fmt: skip
    close = list(dict.fromkeys([*parts, *difflib.get_close_matches(name, names, n=3, cutoff=0.5)]))[:3]
    if not close:
        return ""
    quoted = [f"'{c}'" for c in close]
    return " (did you mean " + " or ".join(quoted) + "?)"


def one_line(exc: BaseException) -> str:
    """Render an exception as ``Type: message`` on a single line."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class NotATorchFile(Exception):
    """``torch.load`` could not read the file at all (not a torch archive or pickle).  A checkpoint loader
    raises it with a reason to say "not mine"; the reason is shown if no loader recognises the file."""


class UnsafeCheckpoint(UsageError):
    """The file holds Python objects that ``weights_only=True`` refuses to create."""


def out_of_memory(exc: BaseException, stage: str, graph: str = "") -> str | None:
    """One line for an allocation that failed (``MemoryError``, torch's CPU allocator, CUDA out of memory):
    which stage needed how much, and what to do — never the allocator's own text.  None for other errors."""
    import re

    text = str(exc)
    cuda = "CUDA out of memory" in text or type(exc).__name__ == "OutOfMemoryError"
    if not (isinstance(exc, MemoryError) or cuda or "can't allocate memory" in text or "not enough memory" in text):
        return None
    asked = re.search(r"allocate (\d+) bytes", text) or re.search(r"allocate ([\d.]+) ([GMK]i?B)", text)
    need = ""
    if asked is not None:
        if len(asked.groups()) == 1:
            need = f" (one allocation of {int(asked.group(1)) / 2**30:.1f} GiB)"
        else:
            need = f" (one allocation of {asked.group(1)} {asked.group(2)})"
    where = f" on {graph}" if graph else ""
    return (
        f"{stage}{where} ran out of {'GPU ' if cuda else ''}memory{need}: a full-graph pass materialises one "
        "message per edge and channel; evaluate a smaller graph (--dataset-option nodes=... for sbm), fewer "
        "channels, or on a machine with more memory"
    )
