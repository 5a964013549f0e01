"""Stage 4, store: the typed records of a run and their HDF5 file (format in docs/run-file.md)."""
