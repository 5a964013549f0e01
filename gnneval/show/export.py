"""``gnneval show RUN --format json|csv|markdown``: the run's tidy table (:mod:`gnneval.store.tidy`) as text a
spreadsheet, pandas or a paper's table reads; JSON carries the provenance and the problems too.  ``gnneval
compare`` writes its table (the same columns after ``run``) with :func:`render_rows`."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from gnneval.core.records import RunResult
from gnneval.store.tidy import COLUMNS, tidy_rows

FORMATS = ("table", "json", "csv", "markdown")


def render(run: RunResult, fmt: str) -> str:
    """The tidy table of ``run`` in ``fmt`` (one of :data:`FORMATS` but ``table``, which the console draws)."""
    extra = {"provenance": asdict(run.provenance), "problems": [asdict(p) for p in run.problems],
             "intervals": run.intervals}  # fmt: skip
    return render_rows(tidy_rows(run), list(COLUMNS), fmt, extra)


def render_rows(rows: list[dict[str, Any]], columns: list[str], fmt: str, extra: dict[str, Any] | None = None) -> str:
    """Tidy ``rows`` with ``columns`` as ``fmt`` text; JSON carries ``extra`` beside them."""
    if fmt == "json":
        return json.dumps({"columns": columns, "rows": rows, **(extra or {})}, indent=1, default=str) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else repr(v) if isinstance(v, float) else v) for k, v in r.items()}
                         for r in rows)  # fmt: skip
        return buf.getvalue()
    if fmt == "markdown":
        cell = lambda v: "" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)  # noqa: E731
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(cell(r[c]).replace("|", "\\|") for c in columns) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    raise ValueError(f"unknown format {fmt!r}")
