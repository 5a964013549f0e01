"""Numba's compilation paid once per machine, not once per run.

umap-learn marks only a few of its numba functions ``cache=True``; the others (the fuzzy simplicial set,
the layout optimisation) compile again in every process — about 10 s of every ``gnneval evaluate`` on a
2-core machine.  :func:`import_cached` imports such a package with numba's ``njit``/``jit`` defaulting to
``cache=True`` for the functions *that package* defines (other code is untouched), and points their cache
at gnneval's cache directory, in a folder named after the Python, numba and package versions: a new
version compiles afresh, and numba itself invalidates an entry when its source file changes.  Functions
numba cannot cache (closures over dynamic globals) compile as before; its warning about them is silenced.
"""

from __future__ import annotations

import functools
import importlib
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any


def cache_folder(package: str) -> Path:
    """Where ``package``'s compiled functions are kept: one folder per Python, numba and package version."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    import numba

    from gnneval.core.paths import default_cache_dir

    dist = (packages_distributions().get(package) or [package])[0]  # e.g. the module umap is umap-learn
    try:
        pkg_version = version(dist)
    except PackageNotFoundError:
        pkg_version = "unknown"
    tag = f"py{sys.version_info.major}{sys.version_info.minor}-numba{numba.__version__}-{dist}{pkg_version}"
    return default_cache_dir() / "numba" / tag


def import_cached(package: str) -> ModuleType:
    """Import ``package`` (e.g. ``"umap"``) with its numba functions cached on disk; already imported: as is."""
    if package in sys.modules:
        return sys.modules[package]
    from gnneval.core.process import forksafe_numba

    forksafe_numba()  # before numba starts threads: this process may still fork (gnneval.show.forked)
    import numba
    import numba.core.config as config

    folder = cache_folder(package)
    folder.mkdir(parents=True, exist_ok=True)
    originals = numba.njit, numba.jit
    previous_dir = config.CACHE_DIR  # type: ignore[attr-defined]

    def caching(decorator: Any) -> Any:
        @functools.wraps(decorator)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller == package or caller.startswith(package + "."):
                kwargs.setdefault("cache", True)
            return decorator(*args, **kwargs)

        return wrapper

    numba.njit, numba.jit = caching(numba.njit), caching(numba.jit)
    config.CACHE_DIR = str(folder)  # type: ignore[attr-defined]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Cc]annot cache.*")
            return importlib.import_module(package)
    finally:
        numba.njit, numba.jit = originals
        config.CACHE_DIR = previous_dir  # type: ignore[attr-defined]
