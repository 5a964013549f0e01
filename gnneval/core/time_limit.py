"""A time limit for one plugin call (a metric on one variant, a visualiser): a plugin that hangs is
stopped and reported with its limit, and the run goes on."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from gnneval.core import defaults

DEFAULT_PLUGIN_TIMEOUT_S = defaults.PLUGIN_TIMEOUT_S
"""``--plugin-timeout``: seconds one metric call or one visualiser may take."""


class PluginTimeout(Exception):
    """Raised inside a plugin call that ran past its limit."""


@contextmanager
def time_limit(seconds: float | None, what: str) -> Iterator[None]:
    """Raise :class:`PluginTimeout` in the calling code after ``seconds`` (SIGALRM; only in the main thread,
    elsewhere the call is not limited).  Nested limits are not supported: the inner one wins."""
    if not seconds or seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: object) -> None:
        raise PluginTimeout(f"{what} was stopped after its {seconds:g} s limit (--plugin-timeout)")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
