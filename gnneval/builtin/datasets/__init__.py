"""Built-in dataset loaders (plugins: ``planetoid``, ``tu``, ``sbm``)."""
