"""Colours shared by every picture: colour-blind-safe (Okabe & Ito 2008), and
the same colour for the same pruner everywhere."""

from __future__ import annotations

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
DENSE_COLOUR = "#555555"

# Built-in pruners keep fixed colours; other names take the remaining ones in a stable order.
_FIXED = {"structured": 0, "magnitude": 1, "random-channels": 2, "random": 3, "hybrid": 4, "lottery": 5}


def pruner_colour(name: str, all_names: list[str] | None = None) -> str:
    if name in _FIXED:
        return OKABE_ITO[_FIXED[name]]
    others = sorted(n for n in (all_names or [name]) if n not in _FIXED)
    free = [c for i, c in enumerate(OKABE_ITO) if i not in _FIXED.values()] or list(OKABE_ITO)
    idx = others.index(name) if name in others else sum(map(ord, name))
    return free[idx % len(free)]


def class_colours(n: int) -> list:
    """``n`` distinguishable class colours (tab10 / tab20 from matplotlib)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
