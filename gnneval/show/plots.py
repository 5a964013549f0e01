"""Helpers shared by visualisers: colours (colour-blind-safe, Okabe & Ito 2008,
and the same colour for the same pruner everywhere), saving a figure in every
requested format, and aligning 2-D maps by orthogonal Procrustes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
DENSE_COLOUR = "#555555"

PRUNER_COLOURS = tuple(c for c in OKABE_ITO if c != "#000000")  #: black stays for markings


def pruner_colour(name: str, all_names: list[str] | None = None) -> str:
    """The colour of pruner ``name``: by its place among the run's pruners (``all_names``, in the run's
    order), so every picture of a run gives each pruner the same, distinct colour (up to seven pruners);
    without the list, a stable colour from the name itself.  No pruner is special-cased."""
    if all_names and name in all_names:
        return PRUNER_COLOURS[list(all_names).index(name) % len(PRUNER_COLOURS)]
    import zlib

    return PRUNER_COLOURS[zlib.crc32(name.encode()) % len(PRUNER_COLOURS)]


def class_colours(n: int) -> list:
    """``n`` distinguishable class colours: Okabe-Ito (colour-blind-safe, black left for markings) for up to
    seven classes, then grey; matplotlib's tab20 beyond eight classes."""
    if n <= 8:
        return [c for c in OKABE_ITO if c != "#000000"][:n] + ["#999999"] * max(0, n - 7)
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def save_figure(fig: Any, out_dir: Path, stem: str, formats: tuple[str, ...], dpi: int = 130) -> list[Path]:
    """Save a matplotlib figure as ``out_dir/stem.<fmt>`` for every format, close it, return the paths."""
    import matplotlib.pyplot as plt

    paths = []
    for fmt in formats:
        path = Path(out_dir) / f"{stem}.{fmt}"
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    plt.close(fig)
    return paths


def procrustes_align(y: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Map ``y`` onto ``target`` by rotation/reflection, uniform scale and translation."""
    from scipy.linalg import orthogonal_procrustes

    mu_y, mu_t = y.mean(0), target.mean(0)
    yc, tc = y - mu_y, target - mu_t
    r, s = orthogonal_procrustes(yc, tc)
    scale = s / max(float((yc**2).sum()), 1e-12)
    return yc @ r * scale + mu_t


def draw_spread(ax: Any, xs: list[float], vs: list[Any], key: str, scale: float, colour: str) -> bool:
    """Over the repeats of ``--seeds`` (rows of ``RunResult.summarised()``): a band of mean ± sample sd and each
    repeat's value as a faint dot, at ``xs``; ``key`` is ``"metric.key"`` or ``"<layer>/metric.key"``.
    Returns whether anything was drawn (no row had two repeats: nothing)."""
    spreads = [v.spread.get(key) for v in vs]
    if not any(s is not None and s.n > 1 for s in spreads):
        return False
    mean = np.array([scale * np.mean([x for x in s.values if np.isfinite(x)]) if s else np.nan for s in spreads])
    sd = np.array([scale * s.sd if s and s.n > 1 else 0.0 for s in spreads])
    ax.fill_between(xs, mean - sd, mean + sd, color=colour, alpha=0.18, linewidth=0)
    for x, s in zip(xs, spreads):
        if s is not None:
            ax.plot([x] * len(s.values), [scale * y for y in s.values], ".", color=colour, alpha=0.45, markersize=4)
    return True
