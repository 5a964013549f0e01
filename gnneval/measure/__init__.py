"""Stage 3, measure: a variant's outputs, counts and metrics (metric dispatch, shared work, the numeric helpers
metrics share)."""
