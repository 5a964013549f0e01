"""Built-in experiment trackers (``--track NAME[=TARGET]``): MLflow, TensorBoard and Weights & Biases, each
with its library as an optional dependency (``pip install 'gnneval[mlflow]'``)."""
