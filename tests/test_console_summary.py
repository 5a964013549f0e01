"""The console summary fits the terminal: at 80 and 120 columns (and 160, what a pipe gets) no cell is cut,
the columns left out are named with how to see them, and --wide shows every column."""

from __future__ import annotations

import os

import pytest
from rich.console import Console

from gnneval.show.console import print_summary, summary_columns


def _printed(run, width: int, wide: bool = False) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)
    print_summary(run, console, "RUN", wide=wide)
    return console.export_text()


def check_fits(run, width: int) -> str:
    text = _printed(run, width)
    assert "…" not in text, text
    rows = [line for line in text.splitlines() if any(v.id in line for v in run.variants) or "variant" in line]
    too_long = [line for line in rows if len(line.rstrip()) > width and not line.startswith(("picture", "problem"))]
    assert not too_long, too_long
    for header in ("variant", "sparsity", run.headline.label, "Δ"):
        assert header in text
    return text


@pytest.mark.parametrize("width", [80, 120, 160])
def test_the_summary_fits_the_terminal_with_no_cut_cell(gnneval_run, width):
    text = check_fits(gnneval_run, width)
    for v in gnneval_run.variants:
        assert v.id in text  # every variant's row is there, its name whole
    if width == 80:
        assert "left out to fit 80 columns" in text and "--wide" in text


def test_wide_shows_every_column(gnneval_run):
    text = _printed(gnneval_run, 80, wide=True)
    for col in summary_columns(gnneval_run):
        assert col.header in text, col.header
    assert "…" not in text
    assert "left out" not in text.split("Representation")[0]
