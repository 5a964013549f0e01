"""Synthetic stochastic-block-model graphs, for fast tests and scale benchmarks.

``--dataset sbm`` gives a seeded graph whose classes are its blocks; the
features are noisy class means, so a GNN must combine features and structure.
Options (``DatasetRef.options`` or ``--dataset-option key=value``): ``nodes``
(default 600), ``blocks`` (4), ``avg_degree`` (8), ``homophily`` (0.8),
``features`` (32), ``noise`` (2.0), ``seed`` (the run's seed); ``task=link-prediction`` (with
``split_seed``) splits the edges for link prediction.

``task=graph-classification`` gives ``graphs`` (default 200) small random graphs (10-30 nodes) in
two classes that differ only in structure -- class 1 has twice the average degree (6 against 3) --
with ``features`` (default 8) pure-noise node features, so only message passing can tell them apart;
one disjoint-union graph with a ``batch`` vector and a seeded stratified 80/10/10 split of the graphs.
"""

from __future__ import annotations

from gnneval.plugin import DatasetContext, DatasetLoader, GraphData, hookimpl
from gnneval.plugin.helpers import disjoint_union, link_split


def make_sbm(
    nodes: int = 600,
    blocks: int = 4,
    avg_degree: float = 8.0,
    homophily: float = 0.8,
    features: int = 32,
    noise: float = 2.0,
    seed: int = 0,
):
    """Return a torch_geometric ``Data`` with x, edge_index, y and train/val/test masks."""
    import torch
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(nodes) % blocks
    y = y[torch.randperm(nodes, generator=g)]
    # Sample edges: each node draws avg_degree/2 partners; a partner is in the same block
    # with probability `homophily`.
    m = int(nodes * avg_degree / 2)
    src = torch.randint(0, nodes, (m,), generator=g)
    same = torch.rand(m, generator=g) < homophily
    order = torch.argsort(y)
    counts = torch.bincount(y, minlength=blocks)
    starts = torch.cumsum(counts, 0) - counts
    blk = torch.where(same, y[src], (y[src] + torch.randint(1, blocks, (m,), generator=g)) % blocks)
    pick = (torch.rand(m, generator=g) * counts[blk]).long()
    dst = order[starts[blk] + pick]
    del same, blk, pick, order
    keep = src != dst
    edge_index = _undirected(src[keep], dst[keep], nodes)
    del src, dst, keep
    means = torch.randn(blocks, features, generator=g)
    x = means[y] + noise * torch.randn(nodes, features, generator=g)
    perm = torch.randperm(nodes, generator=g)
    train = torch.zeros(nodes, dtype=torch.bool)
    for c in range(blocks):
        train[perm[y[perm] == c][:20]] = True
    rest = perm[~train[perm]]
    n_val = len(rest) // 4
    val = torch.zeros(nodes, dtype=torch.bool)
    val[rest[:n_val]] = True
    test = torch.zeros(nodes, dtype=torch.bool)
    test[rest[n_val:]] = True
    return Data(x=x, edge_index=edge_index, y=y, train_mask=train, val_mask=val, test_mask=test)


def _undirected(src, dst, nodes: int):  # noqa: ANN001, ANN202 - torch tensors
    """Both directions of every pair, each pair once, sorted by (source, target): what torch_geometric's
    ``to_undirected`` then ``coalesce`` give, in about half their memory (one int64 key per edge, not index
    pairs and permutations; ogbn-products' 62M edges are generated within a few GiB)."""
    import torch

    key = torch.unique(torch.cat([src * nodes + dst, dst * nodes + src]))  # sorted, each pair once
    edge_index = torch.empty((2, key.numel()), dtype=torch.long)
    torch.div(key, nodes, rounding_mode="floor", out=edge_index[0])
    torch.remainder(key, nodes, out=edge_index[1])
    return edge_index


def make_graph_classification(graphs: int = 200, features: int = 8, seed: int = 0):
    """Disjoint union of ``graphs`` random graphs; class 1 graphs are twice as dense as class 0 ones."""
    import torch
    from torch_geometric.data import Data
    from torch_geometric.utils import coalesce, to_undirected

    g = torch.Generator().manual_seed(seed)
    y = torch.arange(graphs) % 2
    y = y[torch.randperm(graphs, generator=g)]
    parts = []
    for i in range(graphs):
        n = int(torch.randint(10, 31, (1,), generator=g))
        m = int(n * (3.0 + 3.0 * float(y[i])) / 2)
        src, dst = torch.randint(0, n, (m,), generator=g), torch.randint(0, n, (m,), generator=g)
        keep = src != dst
        ei = coalesce(to_undirected(torch.stack([src[keep], dst[keep]]), num_nodes=n), num_nodes=n)
        parts.append(Data(x=torch.randn(n, features, generator=g), edge_index=ei, y=y[i : i + 1], num_nodes=n))
    return disjoint_union(parts, seed=seed)


class SBMLoader(DatasetLoader):
    """A synthetic stochastic block model, generated seeded (nodes, blocks, degrees, features and the
    node- or link-prediction task set by ``--dataset-option``): a graph of any size with no download.
    """

    def names(self) -> list[str]:
        return ["sbm"]

    def load(self, name: str, ctx: DatasetContext) -> GraphData:
        opts = dict(ctx.options)
        task = opts.get("task", "node-classification")
        if task == "graph-classification":
            gparams = {
                "graphs": int(opts.get("graphs", 200)),
                "features": int(opts.get("features", 8)),
                "seed": int(opts.get("seed", ctx.seed)),
            }
            desc = ",".join(f"{k}={v}" for k, v in gparams.items())
            return GraphData(
                name="sbm",
                task=task,
                data=make_graph_classification(**gparams),
                num_features=gparams["features"],
                num_classes=2,
                source=f"generated ({desc})",
                split="seeded",
            )
        params = {
            "nodes": int(opts.get("nodes", 600)),
            "blocks": int(opts.get("blocks", 4)),
            "avg_degree": float(opts.get("avg_degree", 8.0)),
            "homophily": float(opts.get("homophily", 0.8)),
            "features": int(opts.get("features", 32)),
            "noise": float(opts.get("noise", 2.0)),
            "seed": int(opts.get("seed", ctx.seed)),
        }
        data = make_sbm(**params)
        desc = ",".join(f"{k}={v}" for k, v in params.items())
        if task == "link-prediction":
            data = link_split(data, seed=int(opts.get("split_seed", 0)))
        return GraphData(
            name="sbm",
            task=task,
            data=data,
            num_features=params["features"],
            num_classes=params["blocks"],
            source=f"generated ({desc})",
            split="seeded",
        )


@hookimpl
def gnneval_register_dataset_loaders(register):
    register.add_dataset_loader("sbm", SBMLoader, description="synthetic stochastic block model (seeded)")
