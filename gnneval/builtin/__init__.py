"""gnneval's built-in plugins.

Each module here is a plugin registered through gnneval's own ``gnneval``
entry points (see pyproject.toml); the core never imports them by name.
"""
