"""Sizes a file declares, checked against what it stores before anything is allocated.

A checkpoint of a few KB must not make gnneval allocate gigabytes: a compressed tensor that claims 10^9
elements, an architecture argument ``hidden_channels=400000`` or ``num_layers=100000`` beside tensors a
thousand wide.  Every such number is compared with the tensors actually stored, and with a ceiling
(``--max-params``), and refused in one line naming it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from gnneval.core import defaults
from gnneval.core.errors import UsageError

DEFAULT_MAX_PARAMS = defaults.MAX_PARAMS
"""Elements a checkpoint may hold in all (``--max-params``): 800 MB of float32, far above any GNN checkpoint."""

SIZE_SLACK = 4
"""An architecture argument may exceed every stored dimension by this factor (plus 16) before it is refused:
generous for heads x channels products, far below what exhausts memory."""


def declared_numel(shape: Iterable[Any], what: str) -> int:
    """The element count of a declared shape, refusing anything that is not a list of small natural numbers."""
    dims = list(shape)
    if len(dims) > 8 or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in dims):
        raise UsageError(f"{what}: the declared shape {dims[:8]} is not a list of sizes; the file is damaged")
    return math.prod(dims) if dims else 1


def check_total(numels: Iterable[int], max_params: int, what: str) -> None:
    """Refuse a file whose tensors hold more than ``max_params`` elements in all."""
    total = sum(numels)
    if total > max_params:
        raise UsageError(
            f"{what} holds {total:,} weights, more than the --max-params ceiling of {max_params:,}; "
            "raise --max-params if you expect a model this large"
        )


def check_declared_sizes(kwargs: Mapping[str, Any], shapes: Iterable[Iterable[int]], n_tensors: int, what: str) -> None:
    """Every integer architecture argument must be plausible for the stored tensors: no larger than
    ``SIZE_SLACK`` times the largest stored dimension (or the number of tensors, for layer counts)."""
    largest = max((int(d) for shape in shapes for d in shape), default=1)
    bound = SIZE_SLACK * max(largest, n_tensors) + 16
    for key, value in kwargs.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, int) and not isinstance(v, bool) and v > bound:
                raise UsageError(
                    f"{what}: the architecture argument {key}={v} does not fit the stored weights "
                    f"(their largest dimension is {largest}, {n_tensors} tensors); the file is damaged "
                    "or the argument is wrong"
                )
