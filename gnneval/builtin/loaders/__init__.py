"""Built-in checkpoint loaders (plugins: ``native``, ``state-dict``, ``whole-models``)."""
