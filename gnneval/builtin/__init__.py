"""gnneval's built-in plugins, one folder per kind.

Each module here is a plugin registered through gnneval's own ``gnneval`` entry points (see
pyproject.toml), exactly as a third-party plugin is; the core never imports them by name, and they
import nothing from each other: what they share lives in :mod:`gnneval.plugin`'s helpers.
"""
