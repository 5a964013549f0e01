"""Built-in pruners (plugins: ``magnitude``, ``structured``, ``more-pruners``, ``sparse-training``)."""
