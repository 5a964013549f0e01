"""Stage 4, store: the run's HDF5 file (format in docs/run-file.md), the run-folder lock and pruned checkpoints."""
