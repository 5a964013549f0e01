"""The bottom layer: what every stage shares and that imports nothing of gnneval above it — errors, the run's
records, the plugin contract's types (base classes, contexts), hook specifications, the registry, every default,
the problem collector, the cache path and the process set-up.  Plugins import these through gnneval.plugin."""
