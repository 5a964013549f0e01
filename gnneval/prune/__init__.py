"""Stage 2, prune: creating variants (masks, channel surgery, fine-tuning) and the training loop pruners share."""
