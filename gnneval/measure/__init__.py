"""Stage 3, measure: running a model (outputs and every layer's embeddings), counting (parameters, FLOPs, bytes) and metric dispatch."""
