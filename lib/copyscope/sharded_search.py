"""A training set's embeddings on disk as a search database: what a replication study needs past one machine.

`ShardedDatabase(embeddings)` searches exactly, one embedding shard in memory at a time (FAISS flat inner product,
`copyscope.search.top_k`); `ShardedDatabase(embeddings, index)` asks an `ApproximateIndex` and re-ranks its
candidates exactly. Either way `top1(queries)` returns the `Matches` that
`copyscope.metrics.replication.nearest_training` returns for an in-memory array, with global row numbers (their image
ids from `ids`), and `nearest_other(rows)` the train-vs-train reference for sampled training rows.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from copyscope.ann_index import ApproximateIndex
from copyscope.embedding_set import EmbeddingSet
from copyscope.metrics.replication import Matches
from copyscope.search import top_k


class ShardedDatabase:
    """Top-k inner-product search over an `EmbeddingSet`: exact shard by shard, or approximate with re-ranking."""

    def __init__(self, embeddings: EmbeddingSet | str | Path, index: ApproximateIndex | str | Path | None = None,
                 progress: bool = False):
        self.embeddings = embeddings if isinstance(embeddings, EmbeddingSet) else EmbeddingSet(embeddings)
        if index is not None and not isinstance(index, ApproximateIndex):
            index = ApproximateIndex.load(index, self.embeddings)
        if index is not None and index.embeddings.folder.resolve() != self.embeddings.folder.resolve():
            raise ValueError(f"the index was built over {index.embeddings.folder}, not {self.embeddings.folder}")
        self.index = index
        self.progress = progress

    def __len__(self) -> int:
        return len(self.embeddings)

    @property
    def exact(self) -> bool:
        return self.index is None

    def top_k(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The k largest inner products of each query among the set: (scores, global rows), best first."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.embeddings.dim:
            raise ValueError(f"queries must be (n, {self.embeddings.dim}), got shape {queries.shape}")
        if self.index is not None:
            return self.index.search(queries, k)
        if not 1 <= k <= len(self):
            raise ValueError(f"asked for {k} neighbours among {len(self)} rows")
        scores = np.full((len(queries), k), -np.inf, np.float32)
        rows = np.full((len(queries), k), -1, np.int64)
        for i, info in enumerate(tqdm(self.embeddings.shards, desc="exact search", disable=not self.progress)):
            if info.rows == 0:
                continue
            s, r = top_k(queries, self.embeddings.shard(i), k=min(k, info.rows))
            scores, rows = _merge(scores, rows, s, r + info.offset, k)
        return scores, rows

    def top1(self, queries: np.ndarray) -> Matches:
        """Each query's best match: what `nearest_training(queries, training)` gives for in-memory training rows."""
        scores, rows = self.top_k(queries, 1)
        return Matches(scores[:, 0], rows[:, 0])

    def nearest_other(self, rows: np.ndarray) -> Matches:
        """Each given training row's nearest *other* row: the train-vs-train reference (`train_vs_train`) for a
        sample of a set too large to compare with itself."""
        rows = np.asarray(rows, dtype=np.int64)
        scores, found = self.top_k(self.embeddings.rows(rows), 2)
        other = (found[:, 0] == rows).astype(int)  # skip the row itself (or, on a tie with a duplicate, keep it)
        pick = np.arange(len(rows))
        return Matches(scores[pick, other], found[pick, other])

    def ids(self, rows: np.ndarray) -> list[str]:
        """The image ids of global rows (e.g. `top1(...).indices`)."""
        return self.embeddings.ids(rows)


def _merge(s1: np.ndarray, r1: np.ndarray, s2: np.ndarray, r2: np.ndarray, k: int):
    """Keep the k best of two candidate lists per row (earlier rows first on ties, as one flat search would)."""
    s, r = np.concatenate([s1, s2], axis=1), np.concatenate([r1, r2], axis=1)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(r, order, axis=1)
