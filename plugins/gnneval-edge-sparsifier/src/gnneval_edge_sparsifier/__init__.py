"""gnneval plugin: remove a share of a graph's edges by a score (one-shot, after UGS)."""

from __future__ import annotations

import copy

from gnneval.plugin import GraphData, PruneContext, PruneOutcome, Pruner, UsageError, hookimpl

__version__ = "0.1.0"


def first_hidden_embedding(model, x, edge_index):
    """Output of the first message-passing layer (what the next layer aggregates over)."""
    import torch

    from gnneval.plugin.helpers import message_passing_layers

    layers = message_passing_layers(model)
    if not layers:
        raise UsageError("edge-sparsifier needs a model with a message-passing layer")
    captured = {}
    handle = layers[0][1].register_forward_hook(lambda m, i, o: captured.setdefault("h", o))
    try:
        with torch.no_grad():
            model(x, edge_index)
    finally:
        handle.remove()
    return captured["h"]


class EdgeSparsifier(Pruner):
    """Removes the ``sparsity`` share of undirected edges whose endpoints' embeddings agree least.

    Args:
        score: ``cosine``: the cosine similarity of the endpoints' first hidden embeddings (lowest removed
            first); ``random``: a seeded random order (the baseline).
    """

    structured = False

    def __init__(self, *, score: str = "cosine") -> None:
        super().__init__()
        if score not in ("cosine", "random"):
            raise UsageError(f"edge-sparsifier: unknown score '{score}'; use 'cosine' or 'random'")
        self.score = score

    def uses_seed(self) -> bool:
        return self.score == "random"

    def prune(self, model, sparsity: float, ctx: PruneContext) -> PruneOutcome:
        import torch

        score_kind = self.score
        d = ctx.graph.data
        ei = d.edge_index
        src, dst = ei
        canon = torch.stack([torch.minimum(src, dst), torch.maximum(src, dst)])
        pairs, inverse = torch.unique(canon, dim=1, return_inverse=True)
        if score_kind == "random":
            scores = torch.rand(pairs.shape[1], generator=ctx.generator())
        else:
            h = torch.nn.functional.normalize(first_hidden_embedding(model, d.x, ei), dim=1)
            scores = (h[pairs[0]] * h[pairs[1]]).sum(1)
        # Remove whole undirected pairs, weighted by how many directed edges each holds, until the
        # directed count removed is as close as possible to sparsity * E.
        target = int(round(sparsity * ei.shape[1]))
        per_pair = torch.bincount(inverse, minlength=pairs.shape[1])
        order = torch.argsort(scores, stable=True)
        removed_cum = torch.cumsum(per_pair[order], 0)
        n_pairs = int(torch.searchsorted(removed_cum, torch.tensor(target), right=True))
        if n_pairs < len(order) and abs(int(removed_cum[n_pairs]) - target) < abs(
            (int(removed_cum[n_pairs - 1]) if n_pairs else 0) - target
        ):
            n_pairs += 1
        drop = torch.zeros(pairs.shape[1], dtype=torch.bool)
        drop[order[:n_pairs]] = True
        keep_edges = ~drop[inverse]
        data = copy.copy(d)
        data.edge_index = ei[:, keep_edges]
        graph = GraphData(
            name=ctx.graph.name,
            task=ctx.graph.task,
            data=data,
            num_features=ctx.graph.num_features,
            num_classes=ctx.graph.num_classes,
            source=ctx.graph.source,
            split=ctx.graph.split,
        )
        return PruneOutcome(
            model=model,
            graph=graph,
            details={
                "score": score_kind,
                "edges_before": int(ei.shape[1]),
                "edges_after": int(keep_edges.sum()),
                "edge_sparsity": 1 - float(keep_edges.sum()) / ei.shape[1],
            },
        )


@hookimpl
def gnneval_register_pruners(register):
    register.add_pruner(
        "edge-sparsifier",
        EdgeSparsifier,
        description="removes edges whose endpoints' embeddings agree least (one-shot UGS-style)",
    )
