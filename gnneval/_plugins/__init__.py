"""Internal: the plugin machinery above the core — discovery through entry points and the plugin manager, the
generated hook reference, the scaffold of new plugins.  Not public API."""
