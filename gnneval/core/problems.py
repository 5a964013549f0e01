"""One collector for what fails without stopping a run.

A stage that meets a problem — a plugin that raised, a backend that failed, a picture that could not be
drawn — calls :func:`report`; the run collects every report into one :class:`ProblemLog` with
:func:`collecting`, instead of handing a list down through every function::

    with collecting() as log:
        load_for_evaluation(...)      # anything below may report(...)
    log.items                          # [Problem(where, message), ...] in order

A report made where nothing collects is never lost: it becomes a ``RuntimeWarning``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from gnneval.core.records import Problem


class ProblemLog:
    """The problems of one run, in the order they were reported."""

    def __init__(self, problems: Iterable[Problem] = ()) -> None:
        self.items: list[Problem] = list(problems)

    def add(self, where: str, message: str) -> Problem:
        """Record a problem: ``where`` names who (``"pruner 'x' at 0.9"``), ``message`` says what, in one line."""
        problem = Problem(where, message)
        self.items.append(problem)
        return problem

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Problem:
        return self.items[index]


_CURRENT: ContextVar[ProblemLog | None] = ContextVar("gnneval_problems", default=None)


@contextmanager
def collecting(log: ProblemLog | None = None) -> Iterator[ProblemLog]:
    """Collect every :func:`report` made inside the block into ``log`` (a new one if not given)."""
    log = log if log is not None else ProblemLog()
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        _CURRENT.reset(token)


def report(where: str, message: str) -> None:
    """Record a problem with the run being collected (a ``RuntimeWarning`` where none is)."""
    log = _CURRENT.get()
    if log is None:
        warnings.warn(f"gnneval: {where}: {message}", RuntimeWarning, stacklevel=2)
        return
    log.add(where, message)


def current() -> ProblemLog | None:
    """The log being collected into, if any."""
    return _CURRENT.get()
