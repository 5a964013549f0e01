"""Built-in metrics (plugins: ``task-metrics``, ``similarity``, ``embedding-metrics``, ``link-metrics``)."""
