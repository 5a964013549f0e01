"""gnneval: what does pruning this graph neural network do to it?

The package is importable without torch; heavy libraries are imported by the
modules that need them, so ``gnneval --help`` and ``gnneval plugins`` answer at
once.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("gnneval")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
