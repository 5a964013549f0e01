"""Built-in visualisers (plugins: ``curves``, ``umap``, ``quality-plots``)."""
