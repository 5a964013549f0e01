"""The experiment trackers a run names (``--track NAME[=TARGET]``): built before anything heavy (a missing
library is a one-line error then), each call isolated — a tracker that raises is a problem naming it and is
not called again in that run, and the run goes on: a tracker never loses a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gnneval.core.contract import Tracker
from gnneval.core.errors import GnnevalError, UsageError, one_line
from gnneval.core.problems import report
from gnneval.core.registry import Registry


def parse_track(spec: str) -> tuple[str, str | None]:
    """``NAME[=TARGET]`` as (name, target or None)."""
    name, _, target = spec.partition("=")
    if not name.strip():
        raise UsageError(f"--track '{spec}': give a tracker name, e.g. --track mlflow or --track tensorboard=tb/")
    return name.strip(), target.strip() or None


@dataclass
class Tracking:
    """The run's trackers: (name, plugin, instance), the ones still called."""

    trackers: list[tuple[str, str, Tracker]] = field(default_factory=list)

    @classmethod
    def build(cls, registry: Registry, specs: tuple[str, ...], options: dict[str, dict[str, Any]]) -> Tracking:
        """One instance per ``--track`` (its options from ``-o NAME.KEY=VALUE``); an unknown name, option or a
        missing library is a one-line UsageError now."""
        out = cls()
        for spec in specs:
            name, target = parse_track(spec)
            reg = registry.get("tracker", name)
            try:
                tracker = registry.instantiate("tracker", name, target=target, **options.get(name, {}))
            except GnnevalError:
                raise
            except Exception as exc:  # noqa: BLE001 - a plugin's mistake, named
                raise UsageError(
                    f"tracker '{name}' ({reg.plugin}) could not be set up: {one_line(exc)[:200]}"
                ) from None
            out.trackers.append((name, str(reg.plugin), tracker))
        return out

    def call(self, method: str, *args: Any) -> None:
        """``tracker.method(*args)`` for every tracker still called."""
        for entry in list(self.trackers):
            name, plugin, tracker = entry
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # noqa: BLE001 - a tracker never loses the run
                report(f"tracker '{name}' ({plugin})", f"{method}() raised {one_line(exc)[:300]}; it is not called "
                       "again in this run (the run itself is complete)")  # fmt: skip
                self.trackers.remove(entry)
