"""Built-in architectures (plugins: ``pyg-models``, ``graph-models``)."""
