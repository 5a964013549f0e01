"""A model on a graph, as every stage after load sees it: how it is called (inputs), its forward pass with every
message-passing layer's output captured, its prunable weights, and counting (parameters, non-zeros, FLOPs)."""
