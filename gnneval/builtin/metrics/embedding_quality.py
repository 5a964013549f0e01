"""Quality of each layer's node embeddings on their own (no reference to the dense model).

Label-based metrics (linear probe, k-NN accuracy, silhouette, clustering) score the embedding of each
labelled item: a node, or for graph classification a graph's mean node embedding
(:meth:`MetricInputs.labelled_embedding`).

O(n d^2) and O(|E| d) metrics use every node (edges in chunks, so memory stays
O(chunk x d)); O(n^2) ones use the run's fixed, seeded node sample (the same
for every variant and layer) and store a bootstrap confidence interval beside
the value (``<key>_ci_low`` / ``<key>_ci_high``).
"""

from __future__ import annotations

import numpy as np

from gnneval.plugin import Column, Metric, MetricInputs, hookimpl
from gnneval.plugin.helpers import (
    PERCENTILE_BOOTSTRAP,
    centred_chunks,
    column_mean,
    edge_chunks,
    l2_normalise,
    row_chunks,
    with_ci,
)

MAX_KMEANS_FULL = 50_000  #: above this many nodes, k-means uses MiniBatchKMeans


def _split(inputs: MetricInputs, name: str) -> np.ndarray:
    return inputs.graph.masks[name]


class LinearProbe(Metric):
    """Logistic regression on the frozen embeddings, trained on the train split, scored on test."""

    summary = {"test": Column.share("probe", help="test accuracy of a logistic regression on the frozen embeddings")}

    level = "layer"

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        x, y = inputs.labelled_embedding(), inputs.graph.y
        tr, te = inputs.capped(_split(inputs, "train")), _split(inputs, "test")
        if len(np.unique(y[tr])) < 2:
            raise ValueError("the train split holds fewer than two classes")
        scaler = StandardScaler().fit(x[tr])
        clf = LogisticRegression(max_iter=2000, random_state=inputs.seed).fit(scaler.transform(x[tr]), y[tr])
        test = np.flatnonzero(te) if te.dtype == bool else np.asarray(te)
        right = sum(int((clf.predict(scaler.transform(x[test[s]])) == y[test[s]]).sum()) for s in row_chunks(len(test)))
        return {"test": right / len(test) if len(test) else float("nan"), "train_sample": float(len(tr))}


class KnnAccuracy(Metric):
    """k-nearest-neighbour classification (cosine) from train nodes to test nodes; above ``max_nodes`` train
    (or test) nodes, a seeded sample of each (its size stored: brute-force search is quadratic).

    Args:
        k: neighbours that vote.
        max_nodes: train nodes searched, and test nodes scored, at most.
    """

    summary = {"test": Column.share("kNN", help="test accuracy of a 10-NN classifier on the embeddings")}

    level = "layer"

    def __init__(self, *, k: int = 10, max_nodes: int = 20_000) -> None:
        super().__init__()
        self.k, self.max_nodes = int(k), int(max_nodes)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        from sklearn.neighbors import KNeighborsClassifier

        x, y = inputs.labelled_embedding(), inputs.graph.y
        tr = inputs.capped(_split(inputs, "train"), self.max_nodes)
        te = inputs.capped(_split(inputs, "test"), self.max_nodes)
        clf = KNeighborsClassifier(n_neighbors=min(self.k, len(tr)), metric="cosine").fit(x[tr], y[tr])
        return {"test": float((clf.predict(x[te]) == y[te]).mean()), "train_sample": float(len(tr)),
                "test_sample": float(len(te))}  # fmt: skip


class Silhouette(Metric):
    """Silhouette score of the embeddings with respect to the labels, on the shared node sample."""

    summary = {"score": Column("silhouette")}
    intervals = {"score": PERCENTILE_BOOTSTRAP}

    level = "layer"

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        from sklearn.metrics import silhouette_samples

        idx = inputs.labelled_sample()
        x, y = inputs.labelled_embedding()[idx], inputs.graph.y[idx]
        if len(np.unique(y)) < 2:
            raise ValueError("the node sample holds fewer than two classes")
        if not np.any(x != x[0]):
            return {
                "score": 0.0,
                "score_ci_low": 0.0,
                "score_ci_high": 0.0,
                "sample": float(len(idx)),
                "sample_seed": float(inputs.seed),
            }
        out = with_ci("score", silhouette_samples(x, y), inputs.seed, inputs.bootstrap)
        out.update(sample=float(len(idx)), sample_seed=float(inputs.seed))
        return out


class Clustering(Metric):
    """k-means (k = number of classes) on the embeddings: NMI and ARI of the clusters against the labels,
    as mean and sample standard deviation over ``seeds`` k-means seeds (each with ``n_init`` restarts), so
    that k-means' own spread on one embedding is reported beside any difference between embeddings.

    Args:
        seeds: k-means seeds averaged.
        n_init: k-means restarts per seed.
        max_nodes: items clustered at most (a seeded sample above it, its size stored as ``sample``).
    """

    summary = {"nmi": Column("NMI", help="k-means NMI with the labels, mean over k-means seeds")}
    intervals = {
        key: "sample standard deviation (ddof=1) over the k-means seeds (n_init restarts each), the spread "
        "k-means alone gives on one embedding"
        for key in ("nmi", "ari")
    }
    level = "layer"

    def __init__(self, *, seeds: int = 5, n_init: int = 5, max_nodes: int = 20_000) -> None:
        super().__init__()
        self.seeds, self.n_init, self.max_nodes = int(seeds), int(n_init), int(max_nodes)

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        from sklearn.cluster import KMeans, MiniBatchKMeans
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        x, y, k = inputs.labelled_embedding(), inputs.graph.y, inputs.graph.num_classes
        idx = inputs.capped(np.arange(len(y)), min(self.max_nodes, inputs.node_budget))
        x, y = x[idx].astype(np.float64), y[idx]
        nmi, ari = [], []
        for s in range(self.seeds):
            if x.shape[0] > MAX_KMEANS_FULL:
                km = MiniBatchKMeans(n_clusters=k, random_state=inputs.seed + s, n_init=self.n_init, batch_size=4096)
            else:
                km = KMeans(n_clusters=k, random_state=inputs.seed + s, n_init=self.n_init)
            labels = km.fit_predict(x)
            nmi.append(normalized_mutual_info_score(y, labels))
            ari.append(adjusted_rand_score(y, labels))
        ddof = 1 if self.seeds > 1 else 0
        return {
            "nmi": float(np.mean(nmi)),
            "nmi_sd": float(np.std(nmi, ddof=ddof)),
            "ari": float(np.mean(ari)),
            "ari_sd": float(np.std(ari, ddof=ddof)),
            "seeds": float(self.seeds),
            "sample": float(len(idx)),
        }


def _unit(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of ``x``, L2-normalised in float64 (row by row: the same as normalising all of ``x`` first)."""
    return l2_normalise(np.asarray(x[rows], dtype=np.float64))


def effective_rank(x: np.ndarray, centre: bool) -> float:
    """Roy & Vetterli (2007): exp of the entropy of the normalised singular values."""
    mean = column_mean(x) if centre else np.zeros((1, x.shape[1]))
    gram = sum(a.T @ a for a in centred_chunks(x, mean))  # O(n d^2), a chunk of rows at a time
    eig = np.linalg.eigvalsh(np.asarray(gram))  # singular values are sqrt of these
    s = np.sqrt(np.clip(eig, 0.0, None))
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


class EffectiveRank(Metric):
    """Effective rank of the embedding matrix, uncentred (``value``) and column-centred (``centred``)."""

    summary = {"centred": Column("eff. rank", "{:.1f}")}

    level = "layer"

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        x = inputs.embedding
        idx = inputs.capped(np.arange(x.shape[0]))
        sample = {} if len(idx) == x.shape[0] else {"sample": float(len(idx))}
        x = x if not sample else x[idx]
        return {
            "value": effective_rank(x, centre=False),
            "centred": effective_rank(x, centre=True),
            "width": float(x.shape[1]),
            **sample,
        }


def dirichlet_energy(x: np.ndarray, edge_index: np.ndarray, nodes: int | None = None) -> float:
    """E(X) = (1/|V|) sum_i sum_{j in N(i)} ||X_i - X_j||^2 over the directed edge list (chunked); ``nodes``:
    the number of source nodes ``edge_index`` holds every edge of, when it is a sample (default: all)."""
    total = 0.0
    for src, dst in edge_chunks(edge_index):
        diff = x[src].astype(np.float64) - x[dst]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total / (x.shape[0] if nodes is None else max(nodes, 1))


class DirichletEnergy(Metric):
    """Over-smoothing: unnormalised Dirichlet energy, beside ||X||_F^2 (the energy is not scale-invariant).
    Above ``--metric-nodes`` nodes, the per-node mean over a seeded sample of source nodes and all their edges
    (``sample``), ``frobenius_sq`` scaled from the same nodes."""

    summary = {"relative": Column("Dirichlet/‖X‖²")}

    level = "layer"

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        x = inputs.embedding
        edges, nodes = inputs.capped_edges()
        energy = dirichlet_energy(x, edges, nodes)
        rows = inputs.capped(np.arange(x.shape[0]))
        fro = float(np.einsum("ij,ij->", x[rows].astype(np.float64), x[rows])) * x.shape[0] / max(len(rows), 1)
        out = {"energy": energy, "frobenius_sq": fro, "relative": energy * x.shape[0] / fro if fro > 0 else 0.0}
        if nodes < x.shape[0]:
            out["sample"] = float(nodes)
        return out


class MAD(Metric):
    """Mean Average Distance (Chen et al. 2020): cosine distances to neighbours (all edges) and to all
    nodes (on the shared node sample, with a bootstrap interval).  As in the authors' code, each node's
    average is over its non-zero distances, and the mean is over **all** nodes: a node whose neighbours
    are identical to it (over-smoothed) counts as 0, not dropped."""

    summary = {"neighbours": Column("MAD nb")}
    intervals = {"global": PERCENTILE_BOOTSTRAP}

    level = "layer"

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        x = inputs.embedding
        n = x.shape[0]
        sums = np.zeros(n)
        counts = np.zeros(n)
        edges, nodes = inputs.capped_edges()
        for src, dst in edge_chunks(edges):  # rows normalised per chunk: no float64 copy of the whole layer
            d = 1.0 - np.einsum("ij,ij->i", _unit(x, src), _unit(x, dst))
            nz = d > 1e-12
            sums += np.bincount(src[nz], weights=d[nz], minlength=n)
            counts += np.bincount(src[nz], minlength=n)
        per_node = sums / np.maximum(counts, 1)  # identical neighbours -> 0
        neighbours = float(per_node.mean() if nodes == n else per_node[inputs.capped(np.arange(n))].mean())
        idx = inputs.node_sample()
        s = _unit(x, idx)
        d = 1.0 - s @ s.T
        d[d < 1e-12] = 0.0
        cnt = (d > 0).sum(1)
        per_node = d.sum(1) / np.maximum(cnt, 1)
        out = {"neighbours": neighbours, "global_sample": float(len(idx)), "sample_seed": float(inputs.seed)}
        if nodes < n:
            out["neighbours_sample"] = float(nodes)
        out.update(with_ci("global", per_node, inputs.seed, inputs.bootstrap))
        return out


class AlignmentUniformity(Metric):
    """Wang & Isola (2020) on L2-normalised embeddings: alignment over edges (alpha = 2, lower is
    better) and uniformity over all pairs of the shared node sample (t = 2, lower is more uniform)."""

    level = "layer"

    def compute(self, inputs: MetricInputs) -> dict[str, float]:
        x = inputs.embedding
        total, count = 0.0, 0
        edges, nodes = inputs.capped_edges()
        for src, dst in edge_chunks(edges):
            diff = _unit(x, src) - _unit(x, dst)
            total += float(np.einsum("ij,ij->", diff, diff))
            count += len(src)
        s = _unit(x, inputs.node_sample())
        sq = np.clip(2.0 - 2.0 * (s @ s.T), 0.0, None)
        iu = np.triu_indices(len(s), k=1)
        uniformity = float(np.log(np.mean(np.exp(-2.0 * sq[iu])))) if len(iu[0]) else 0.0
        return {
            "alignment": total / max(count, 1),
            "uniformity": uniformity,
            "uniformity_sample": float(len(s)),
            "sample_seed": float(inputs.seed),
        } | ({"alignment_sample": float(nodes)} if nodes < inputs.graph.num_nodes else {})


@hookimpl
def gnneval_register_metrics(register):
    register.add_metric("linear-probe", LinearProbe, description="logistic regression on frozen embeddings (test acc)")
    register.add_metric("knn-accuracy", KnnAccuracy, description="10-NN (cosine) accuracy, train -> test")
    register.add_metric("silhouette", Silhouette, description="silhouette w.r.t. labels (node sample, bootstrap CI)")
    register.add_metric("clustering", Clustering, description="k-means NMI and ARI against the labels")
    register.add_metric("effective-rank", EffectiveRank, description="effective rank (Roy & Vetterli 2007)")
    register.add_metric("dirichlet-energy", DirichletEnergy, description="Dirichlet energy and ||X||_F^2")
    register.add_metric("mad", MAD, description="mean average cosine distance (Chen et al. 2020)")
    register.add_metric(
        "alignment-uniformity", AlignmentUniformity, description="alignment and uniformity (Wang & Isola 2020)"
    )
