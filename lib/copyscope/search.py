"""Exact inner-product nearest-neighbour search with FAISS, in bounded memory.

The database is indexed in shards of `database_chunk` rows (a memory-mapped array is read shard by shard) and the
queries are searched in chunks; per-shard results are merged into a running top-k. FAISS uses a GPU index when it
was built with GPU support and a GPU is present.
"""
from __future__ import annotations

import faiss
import numpy as np
from tqdm.auto import tqdm


def gpu_available() -> bool:
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def build_index(database: np.ndarray, use_gpu: bool | None = None) -> faiss.Index:
    """A flat (exact) inner-product index over float32 rows."""
    database = np.ascontiguousarray(database, dtype=np.float32)
    index = faiss.IndexFlatIP(database.shape[1])
    if gpu_available() if use_gpu is None else use_gpu:
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(database)
    return index


def top_k(queries: np.ndarray, database: np.ndarray, k: int = 1, exclude_self: bool = False,
          query_chunk: int = 16384, database_chunk: int = 1_000_000,
          progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The k largest inner products of each query row among the database rows: (scores, indices), best first.

    With `exclude_self` the queries are the database itself and each row's own entry is skipped: the train-vs-train
    baseline, every training image against its nearest *other* training image.
    """
    if exclude_self and len(queries) != len(database):
        raise ValueError("exclude_self needs the queries to be the database itself")
    available = len(database) - (1 if exclude_self else 0)
    if not 1 <= k <= available:
        raise ValueError(f"asked for {k} neighbours among {available} candidates")
    scores = np.full((len(queries), k), -np.inf, np.float32)
    ids = np.full((len(queries), k), -1, np.int64)
    shards = range(0, len(database), database_chunk)
    for d0 in tqdm(shards, desc="search", disable=not progress):
        index = build_index(database[d0:d0 + database_chunk])
        depth = min(k + int(exclude_self), index.ntotal)
        for q0 in range(0, len(queries), query_chunk):
            q = np.ascontiguousarray(queries[q0:q0 + query_chunk], dtype=np.float32)
            s, i = index.search(q, depth)
            i = i + d0
            if exclude_self:
                s = np.where(i == np.arange(q0, q0 + len(q))[:, None], -np.inf, s)
            rows = slice(q0, q0 + len(q))
            scores[rows], ids[rows] = _merge(scores[rows], ids[rows], s, i, k)
    return scores, ids


def _merge(s1: np.ndarray, i1: np.ndarray, s2: np.ndarray, i2: np.ndarray, k: int):
    """Keep the k best of two candidate lists per row."""
    s, i = np.concatenate([s1, s2], axis=1), np.concatenate([i1, i2], axis=1)
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(i, order, axis=1)
