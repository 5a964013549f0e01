"""Work shared among forked processes: each item computed in a child of its own, at most ``workers`` at once.

Forking shares everything this process holds (a stored run, loaded modules) copy-on-write; only each result
comes back, pickled through a file.  A child limits OpenMP, BLAS, PyTorch and numba to one thread: a GNU
OpenMP pool the parent used hangs a child's first parallel region of more than one thread, and numba's OpenMP
layer, started in a child by umap-learn, would raise OpenMP's thread count back to the number of cores.
Linux only (macOS' system frameworks are not fork-safe, Windows has no fork); elsewhere callers run the items
one after another.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gnneval.core.process import forksafe_numba, threads_from_env, usable_cores

_POLL_S = 0.02


def default_workers() -> int:
    """``$GNNEVAL_THREADS``, else the cores this process may use."""
    return threads_from_env() or usable_cores()


def can_fork() -> bool:
    """Whether work may be shared among forked processes here: Linux, and not after numba started its GNU
    OpenMP threading layer in this process (numba then kills every forked child; :func:`forksafe_numba`
    avoids that where gnneval imports numba's users)."""
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")):
        return False
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is not None and getattr(parallel, "_is_initialized", False):
        try:
            return str(sys.modules["numba"].threading_layer()) != "omp"
        except Exception:  # noqa: BLE001 - numba could not say: do not risk it
            return False
    return True


@dataclass
class Outcome:
    """How one item's child ended: ``ok`` with its ``value``, else ``how`` it ended without one."""

    ok: bool
    value: Any = None
    how: str = ""
    stopped: bool = False  #: stopped from outside for outliving ``limit_s``
    seconds: float = 0.0


def fork_map(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int,
    *,
    limit_s: float | None = None,
    on_start: Callable[[list[int]], None] | None = None,
    on_done: Callable[[int, Outcome], None] | None = None,
    scratch_dir: Path | None = None,
) -> list[Outcome]:
    """``fn(item)`` for every item, each in a forked child, ``workers`` at a time, started in the given order.
    A child running longer than ``limit_s`` is killed.  ``on_start`` gets the indices running after each
    start, ``on_done`` each index and its outcome as it ends.  Returns the outcomes in the items' order."""
    scratch = Path(tempfile.mkdtemp(prefix=".forked-", dir=scratch_dir))
    outcomes: list[Outcome | None] = [None] * len(items)
    pending: list[int] = list(range(len(items)))
    running: dict[int, Any] = {}
    try:
        while pending or running:
            while pending and len(running) < workers:
                i = pending.pop(0)
                running[_fork(fn, items[i], scratch / f"{i}.pickle")] = (i, time.monotonic())
                if on_start:
                    on_start(sorted(j for j, _ in running.values()))
            pid, status = _wait_any(running, limit_s)
            i, started = running.pop(pid)
            outcomes[i] = _outcome(scratch / f"{i}.pickle", status, time.monotonic() - started)
            if on_done:
                on_done(i, outcomes[i])
    finally:
        for pid in running:  # interrupted: no orphan keeps working
            _stop(pid)
        shutil.rmtree(scratch, ignore_errors=True)
    return [o for o in outcomes if o is not None]


def one_thread() -> None:
    """In a forked child: one thread for OpenMP, BLAS, PyTorch and numba (see the module's docstring)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    forksafe_numba()
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    numba_parallel = sys.modules.get("numba.np.ufunc.parallel")
    if numba_parallel is not None and not getattr(numba_parallel, "_is_initialized", True):
        sys.modules["numba"].config.NUMBA_NUM_THREADS = numba_parallel.NUM_THREADS = 1  # type: ignore[attr-defined]


def _fork(fn: Callable[[Any], Any], item: Any, result_file: Path) -> int:
    """Fork a child that pickles ``fn(item)`` to ``result_file``; returns its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the child: never returns into the parent's code
        one_thread()
        value = fn(item)
        tmp = result_file.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(value))
        tmp.rename(result_file)
        code = 0
    except BaseException:  # noqa: BLE001 - Ctrl-C or an unpicklable result: the parent sees no result
        pass
    finally:
        os._exit(code)


def _wait_any(running: dict[int, tuple[int, float]], limit_s: float | None) -> tuple[int, int | None]:
    """The next child to end and its wait status; a child past ``limit_s`` is killed (status None)."""
    while True:
        for pid, (_, started) in running.items():
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return pid, status
            if limit_s is not None and time.monotonic() - started > limit_s:
                _stop(pid)
                return pid, None
        time.sleep(_POLL_S)


def _stop(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _outcome(result_file: Path, status: int | None, seconds: float) -> Outcome:
    try:
        return Outcome(True, pickle.loads(result_file.read_bytes()), seconds=seconds)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        pass
    if status is None:
        return Outcome(False, how=f"was stopped after {seconds:.0f} s", stopped=True, seconds=seconds)
    how = (
        f"signal {os.WTERMSIG(status)}"
        if os.WIFSIGNALED(status)
        else f"exit status {os.waitstatus_to_exitcode(status)}"
    )
    return Outcome(False, how=f"ended ({how}) without a result", seconds=seconds)


def map_in_processes(fn: Callable[[Any], Any], items: Sequence[Any], workers: int | None = None) -> list[Any]:
    """``[fn(item) for item in items]``, shared among up to ``workers`` forked processes (default: the cores
    gnneval may use) where the platform allows; an item whose process ends without a result is computed
    again here, so the answer is always the same list.  For plugin authors: ``fn`` may be a closure over
    large data (it is not pickled); each result is pickled back; ``fn`` runs with one thread per process."""
    workers = default_workers() if workers is None else workers
    if workers <= 1 or len(items) <= 1 or not can_fork():
        return [fn(item) for item in items]
    outcomes = fork_map(fn, items, workers)
    return [o.value if o.ok else fn(item) for o, item in zip(outcomes, items)]
