"""Internal: the plugin machinery (discovery, the registry, hook reference, scaffolding). Not public API."""
