"""Stage 1, load: checkpoints (format detection, safe unpickling, saving) and datasets (data roots, caches, splits)."""
