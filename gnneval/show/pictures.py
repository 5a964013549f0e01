"""Drawing a stored run: every selected visualiser, each isolated, its files kept inside the run folder."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gnneval.plugin.api import VisualContext
from gnneval.plugin.errors import one_line
from gnneval.store.records import Problem, RunResult

if TYPE_CHECKING:  # pragma: no cover
    from gnneval._plugins.registry import Registry


def draw_all(registry: Registry, run: RunResult, out_dir: Path, names: list[str], problems: list[Problem],
             formats: tuple[str, ...] = ("png",), seed: int = 0,
             progress: Callable[[], Any] | None = None, timeout_s: float | None = None) -> dict[str, str]:
    """Call each visualiser in ``names`` on ``run``; a failing one is recorded, the others still draw.
    Returns ``label -> file`` for the files each returned that exist inside ``out_dir``."""
    files: dict[str, str] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    with progress() if progress else nullcontext() as bar:
        tid = bar.add_task("pictures", total=len(names)) if bar is not None else None
        for name in names:
            if bar is not None:
                bar.update(tid, description=f"picture: {name}")
            files.update(_draw_one(registry, name, run, out_dir, problems, formats, seed, timeout_s))
            if bar is not None:
                bar.advance(tid)
    return files


def _draw_one(registry: Registry, name: str, run: RunResult, out_dir: Path, problems: list[Problem],
              formats: tuple[str, ...], seed: int, timeout_s: float | None = None) -> dict[str, str]:
    from gnneval._plugins.time_limit import time_limit

    reg = registry.get("visualiser", name)
    who = f"visualiser '{name}' ({reg.plugin})"
    try:
        with time_limit(timeout_s, who):
            paths = reg.obj(**reg.options).draw(VisualContext(run=run, out_dir=out_dir, formats=formats, seed=seed))
    except Exception as exc:  # noqa: BLE001
        problems.append(Problem(who, one_line(exc)))
        return {}
    except SystemExit as exc:
        problems.append(Problem(who, f"called sys.exit({exc.code!r}); no picture"))
        return {}
    files: dict[str, str] = {}
    root = out_dir.resolve()
    for p in paths or []:
        path = Path(p)
        resolved = path.resolve()
        if not resolved.is_relative_to(root) or not resolved.is_file():
            problems.append(Problem(who, f"returned {str(p)[:120]}, which is not a file inside the run folder; ignored"))
            continue
        files[name if not files else f"{name}-{len(files)}"] = str(path)
    run.captions.update({label: getattr(reg.obj, "caption", "") for label in files})
    return files
