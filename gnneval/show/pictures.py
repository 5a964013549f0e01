"""Drawing a stored run: every selected visualiser, each isolated, its files kept inside the run folder.

With more than one CPU thread on Linux, visualisers draw side by side, each in a forked process of its own
(the stored run is shared copy-on-write, nothing is pickled in): a UMAP layout (single-threaded numba) and
the matplotlib pictures (single-threaded Python) no longer wait for each other.  The longest visualiser of
the last run starts first (durations remembered in gnneval's cache).  A drawing process runs one thread
(:mod:`gnneval.show.forked` says why); one that dies is drawn again in this process, one that outlives its
time limit by a minute is stopped and a problem names its visualiser; the others' pictures stand.  Elsewhere, or with one
thread, they draw one after another in this process.  Either way each picture is drawn by the same code
from the same stored run with the same seed, so the files are the same.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gnneval.core import defaults
from gnneval.core.contract import VisualContext
from gnneval.core.errors import one_line
from gnneval.core.problems import report
from gnneval.core.records import Problem, RunResult
from gnneval.core.remembered import recall, remember
from gnneval.show.forked import Outcome, can_fork, default_workers, fork_map

if TYPE_CHECKING:  # pragma: no cover
    from gnneval.core.registry import Registry

DURATIONS = "visualiser_seconds"  #: remembered file: seconds each visualiser took last time
GRACE_S = 60.0  #: a drawing process outliving its own --plugin-timeout by this much is stopped from outside


@dataclass
class Drawn:
    """What one visualiser left: its files (label -> path), its problems, captions and wall time."""

    files: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    captions: dict[str, str] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Job:
    """What every visualiser of one call draws from."""

    registry: Registry
    run: RunResult
    out_dir: Path
    formats: tuple[str, ...]
    seed: int
    timeout_s: float | None
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ShowSettings:
    """The show stage's settings: picture formats (``--svg``), the seed visualisers get, the time one may take
    (``--plugin-timeout``) and how many draw at once (None: the cores gnneval may use)."""

    formats: tuple[str, ...] = ("png",)
    seed: int = defaults.SEED
    timeout_s: float | None = None
    workers: int | None = None
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  #: visualiser name -> its ``-o`` options


def draw_all(
    registry: Registry,
    run: RunResult,
    out_dir: Path,
    names: list[str],
    settings: ShowSettings = ShowSettings(),
    progress: Callable[[], Any] | None = None,
) -> dict[str, str]:
    """Call each visualiser in ``names`` on ``run``, up to ``settings.workers`` at once; a failing one is
    reported (:func:`gnneval.core.problems.report`), the others still draw.  Returns ``label -> file``, in the
    order of ``names``, for the files each returned that exist inside ``out_dir``."""
    names = list(dict.fromkeys(names))
    out_dir.mkdir(parents=True, exist_ok=True)
    job = _Job(registry, run, out_dir, settings.formats, settings.seed, settings.timeout_s, dict(settings.options))
    workers = settings.workers
    drawn: dict[str, Drawn] = {}
    with progress() if progress else nullcontext() as bar:
        tid = bar.add_task("pictures", total=len(names)) if bar is not None else None

        def started(busy: list[str]) -> None:
            if bar is not None:
                bar.update(tid, description="picture: " + ", ".join(busy))

        def finished(name: str, result: Drawn) -> None:
            drawn[name] = result
            if bar is not None:
                bar.advance(tid)

        order = longest_first(names)
        workers = default_workers() if workers is None else workers
        if workers > 1 and len(names) > 1 and can_fork():
            _draw_forked(job, order, workers, started, finished)
        else:
            for name in order:
                started([name])
                finished(name, _draw_one(job, name))
    remember(DURATIONS, {n: round(d.seconds, 2) for n, d in drawn.items()})
    files: dict[str, str] = {}
    for name in names:
        for problem in drawn[name].problems:
            report(problem.where, problem.message)
        run.captions.update(drawn[name].captions)
        run.ranks.update(drawn[name].ranks)
        files.update(drawn[name].files)
        stored = run.graph.embedding_nodes
        if not drawn[name].files and not drawn[name].problems and stored is not None and stored.size == 0:
            report(f"visualiser '{name}'", "drew nothing: this run stores no embeddings (--store-embeddings "
                   "none); --store-embeddings sample keeps a seeded sample for the maps")  # fmt: skip
    return files


def longest_first(names: list[str]) -> list[str]:
    """``names`` with the one that took longest last time first; ones never timed go before all others
    (they may be long), each group keeping the given order."""
    seconds = recall(DURATIONS)
    known = {n: float(s) for n, s in seconds.items() if isinstance(s, (int, float))}
    return sorted(names, key=lambda n: -known.get(n, float("inf")))


def _draw_one(job: _Job, name: str) -> Drawn:
    """Draw visualiser ``name`` in this process, isolated: an exception or a path outside the run folder is
    a problem naming the plugin."""
    from gnneval.core.time_limit import time_limit

    t0 = time.perf_counter()
    reg = job.registry.get("visualiser", name)
    who = f"visualiser '{name}' ({reg.plugin})"
    result = Drawn()
    try:
        with time_limit(job.timeout_s, who):
            paths = reg.obj(**{**reg.options, **job.options.get(name, {})}).draw(
                VisualContext(run=job.run, out_dir=job.out_dir, formats=job.formats, seed=job.seed)
            )
    except Exception as exc:  # noqa: BLE001
        result.problems.append(Problem(who, one_line(exc)))
        paths = []
    except SystemExit as exc:
        result.problems.append(Problem(who, f"called sys.exit({exc.code!r}); no picture"))
        paths = []
    root = job.out_dir.resolve()
    for p in paths or []:
        path = Path(p)
        resolved = path.resolve()
        if not resolved.is_relative_to(root) or not resolved.is_file():
            result.problems.append(
                Problem(who, f"returned {str(p)[:120]}, which is not a file inside the run folder; ignored")
            )
            continue
        result.files[name if not result.files else f"{name}-{len(result.files)}"] = str(path)
    result.captions = {label: getattr(reg.obj, "caption", "") for label in result.files}
    result.ranks = {label: int(getattr(reg.obj, "rank", 100)) for label in result.files}
    result.seconds = time.perf_counter() - t0
    return result


# -- side by side ----------------------------------------------------------------------------------
def _draw_forked(
    job: _Job,
    order: list[str],
    workers: int,
    started: Callable[[list[str]], None],
    finished: Callable[[str, Drawn], None],
) -> None:
    _preload_pyplot()
    limit = job.timeout_s + GRACE_S if job.timeout_s else None
    fork_map(
        lambda name: _draw_one(job, name),
        order,
        workers,
        limit_s=limit,
        on_start=lambda running: started([order[i] for i in running]),
        on_done=lambda i, outcome: finished(order[i], _drawn(job, order[i], outcome)),
        scratch_dir=job.out_dir,
    )


def _preload_pyplot() -> None:
    """Import pyplot once here (0.7 s) rather than in every drawing process.  Agg, as the visualisers choose,
    unless the caller already imported pyplot with a backend of its own (a notebook)."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401


def _drawn(job: _Job, name: str, outcome: Outcome) -> Drawn:
    """The child's :class:`Drawn`.  A child that ended without one (a library that is not fork-safe, a
    crash) is drawn again in this process, with a problem saying so; one stopped for outliving its time
    limit is not (it would hang here too): a problem says it has no picture."""
    if outcome.ok:
        return outcome.value
    reg = job.registry.get("visualiser", name)
    who = f"visualiser '{name}' ({reg.plugin})"
    if outcome.stopped:
        return Drawn(
            problems=[
                Problem(
                    who,
                    f"{outcome.how} (its --plugin-timeout plus {GRACE_S:g} s); no picture "
                    f"(gnneval report --visualisers {name} redraws it, GNNEVAL_THREADS=1 "
                    f"in one process)",
                )
            ],
            seconds=outcome.seconds,
        )
    again = _draw_one(job, name)
    again.problems.insert(0, Problem(who, f"its drawing process {outcome.how}; drawn again in the main process"))
    again.seconds += outcome.seconds
    return again
