"""Stage 1, load: checkpoints (format detection, safe unpickling, the native and compressed tensor formats) and
datasets (data roots, caches, splits), and the pair a run evaluates, with every check on it."""
