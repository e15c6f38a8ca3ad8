"""An approximate FAISS index over an embedding set on disk, with exact re-ranking of its top candidates.

    python -m copyscope.ann_index EMBEDDINGS OUT [--factory IVF4096,PQ256x4fs] [--parameters nprobe=64]
        [--candidates 100] [--train-size N] [--gpu/--no-gpu]

The index (any `faiss.index_factory` string with inner-product metric: IVF-PQ, HNSW, ...) is trained on a uniform
sample of the set and filled shard by shard, so the set never has to fit in memory; a compressed index (PQ codes:
dim / 4 bytes per vector for the default) holds what the search needs. A search asks the index for `candidates`
neighbours per query, then re-scores them with the exact inner product against the stored rows (read through
memory maps) and keeps the best k: scores are exact, only a true neighbour missing from the candidates is lost.
FAISS GPU indexes are used when FAISS has GPU support and the index type runs there.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import faiss
import numpy as np
from tqdm.auto import tqdm

from copyscope.atomic import atomic_directory
from copyscope.data.sources import DataError
from copyscope.embedding_set import EmbeddingSet
from copyscope.search import gpu_available

INDEX_FILE = "index.faiss"
META_FILE = "index.json"
RERANK_CHUNK = 16  # queries re-ranked at once: up to RERANK_CHUNK × candidates rows of dim float32 in memory


def default_factory(n: int, dim: int) -> str:
    """The documented setting: an inverted file of about √n lists (a power of two, at least 16) over fast-scan
    product quantisation with one 4-bit sub-quantizer per 2 dimensions: dim / 4 bytes per vector (128 B at 512-d,
    an eighth of a float16 row). `default_parameters` probes a sixteenth of the lists; 100 candidates are
    re-ranked."""
    if dim % 4:
        raise ValueError(f"the default factory needs a dimension divisible by 4, got {dim}; pass a factory string")
    return f"IVF{2 ** max(4, round(math.log2(math.sqrt(n))))},PQ{dim // 2}x4fs"


def default_parameters(index: faiss.Index, candidates: int) -> str:
    """Search parameters for an index without explicit ones: an inverted file probes a sixteenth of its lists, HNSW
    keeps twice as many nodes (at least 128) as the candidates it must return; other indexes take none."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return f"nprobe={max(1, ivf.nlist // 16)}"
    if "HNSW" in type(index).__name__:
        return f"efSearch={max(128, 2 * candidates)}"
    return ""


class ApproximateIndex:
    """A trained, filled FAISS index over `embeddings`, searched with exact re-ranking."""

    def __init__(self, index: faiss.Index, embeddings: EmbeddingSet, meta: dict, use_gpu: bool | None = None):
        if index.ntotal != len(embeddings) or index.d != embeddings.dim:
            raise DataError(f"the index holds {index.ntotal} vectors of {index.d} dimensions, the embedding set "
                            f"{embeddings.folder} {len(embeddings)} of {embeddings.dim}: rebuild the index")
        self.embeddings, self.meta = embeddings, meta
        self.index = _to_gpu(index, use_gpu)
        self.set_parameters(meta["parameters"])

    @classmethod
    def build(cls, embeddings: EmbeddingSet, factory: str | None = None, train_size: int | None = None,
              parameters: str | None = None, candidates: int = 100, seed: int = 0, use_gpu: bool | None = None,
              progress: bool = True) -> "ApproximateIndex":
        """Train `factory` (default: `default_factory`) on `train_size` sampled rows (default: 64 per inverted list,
        at least 20,000, at most all), then add the set shard by shard. `parameters` are FAISS search parameters
        ("nprobe=64" for IVF, "efSearch=128" for HNSW; default: `default_parameters`); `candidates` is the
        re-ranking depth."""
        factory = factory or default_factory(len(embeddings), embeddings.dim)
        if candidates < 1:
            raise ValueError(f"candidates must be positive, got {candidates}")
        start = time.perf_counter()
        try:
            index = faiss.index_factory(embeddings.dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as err:
            raise ValueError(f"FAISS cannot build index {factory!r}: {str(err).splitlines()[0]}") from None
        parameters = default_parameters(index, candidates) if parameters is None else parameters
        work = _to_gpu(index, use_gpu)
        if not work.is_trained:
            sample = embeddings.sample(train_size or _train_size(index, len(embeddings)), seed)
            work.train(sample)
            del sample
        for i in tqdm(range(len(embeddings.shards)), desc="index shards", disable=not progress):
            work.add(embeddings.shard(i))
        if work is not index:
            index = faiss.index_gpu_to_cpu(work)
        meta = {"factory": factory, "parameters": parameters, "candidates": candidates, "seed": seed,
                "train_size": train_size, "rows": len(embeddings), "dim": embeddings.dim,
                "embeddings": str(embeddings.folder.resolve()), "build_seconds": time.perf_counter() - start}
        return cls(index, embeddings, meta, use_gpu)

    def save(self, path: str | Path) -> None:
        """The index and what it was built from, into folder `path` (atomically)."""
        index = faiss.index_gpu_to_cpu(self.index) if _on_gpu(self.index) else self.index
        with atomic_directory(path) as tmp:
            faiss.write_index(index, str(tmp / INDEX_FILE))
            (tmp / META_FILE).write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path, embeddings: EmbeddingSet | str | Path | None = None,
             use_gpu: bool | None = None) -> "ApproximateIndex":
        """An index saved by `save`, over `embeddings` (default: the set it was built from)."""
        path = Path(path)
        if not (path / INDEX_FILE).is_file() or not (path / META_FILE).is_file():
            raise DataError(f"{path} is not a saved index (no {INDEX_FILE} and {META_FILE}); build it first")
        meta = json.loads((path / META_FILE).read_text())
        if not isinstance(embeddings, EmbeddingSet):
            embeddings = EmbeddingSet(embeddings if embeddings is not None else meta["embeddings"])
        return cls(faiss.read_index(str(path / INDEX_FILE)), embeddings, meta, use_gpu)

    def set_parameters(self, parameters: str) -> None:
        """FAISS search parameters, e.g. "nprobe=32" or "efSearch=256" ("" for none)."""
        space = faiss.GpuParameterSpace() if _on_gpu(self.index) else faiss.ParameterSpace()
        try:
            if parameters:
                space.set_index_parameters(self.index, parameters)
        except RuntimeError as err:
            raise ValueError(f"index {self.meta['factory']!r} does not take parameters {parameters!r}: "
                             f"{str(err).splitlines()[0]}") from None
        self.meta["parameters"] = parameters

    @property
    def candidates(self) -> int:
        return self.meta["candidates"]

    @property
    def nbytes(self) -> int:
        """The index's size in memory (its serialised size): what a search needs besides the re-ranked rows."""
        index = faiss.index_gpu_to_cpu(self.index) if _on_gpu(self.index) else self.index
        return int(faiss.serialize_index(index).size)

    def candidates_for(self, queries: np.ndarray, depth: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The index's own (approximate) top-`depth` scores and global rows per query; -1 where it found fewer."""
        depth = min(depth or self.candidates, len(self.embeddings))
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), depth)

    def search(self, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The k best (exact inner product) among each query's candidates: (scores, global rows), best first."""
        if not 1 <= k <= min(self.candidates, len(self.embeddings)):
            raise ValueError(f"k must lie in [1, {min(self.candidates, len(self.embeddings))}] (the re-ranking "
                             f"depth), got {k}")
        _, ids = self.candidates_for(queries)
        return rerank(np.asarray(queries, dtype=np.float32), ids, self.embeddings, k)


def rerank(queries: np.ndarray, candidates: np.ndarray, embeddings: EmbeddingSet,
           k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner products of each query with its candidate rows (-1 = none), the k best kept."""
    scores = np.full((len(queries), k), -np.inf, np.float32)
    rows = np.full((len(queries), k), -1, np.int64)
    for q0 in range(0, len(queries), RERANK_CHUNK):
        q, cand = queries[q0:q0 + RERANK_CHUNK], candidates[q0:q0 + RERANK_CHUNK]
        valid = cand >= 0
        unique, inverse = np.unique(np.where(valid, cand, 0), return_inverse=True)
        products = embeddings.rows(unique) @ q.T  # (unique rows, chunk): one BLAS product, then gather
        exact = np.where(valid, products[inverse.reshape(cand.shape), np.arange(len(q))[:, None]], -np.inf)
        order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(exact, order, axis=1)
        scores[q0:q0 + len(q)] = best
        rows[q0:q0 + len(q)] = np.where(np.isfinite(best), np.take_along_axis(cand, order, axis=1), -1)
    return scores, rows


def _train_size(index: faiss.Index, n: int) -> int:
    ivf = faiss.try_extract_index_ivf(index)
    lists = ivf.nlist if ivf is not None else 0
    return min(n, max(20_000, 64 * lists))


def _on_gpu(index: faiss.Index) -> bool:
    return "Gpu" in type(index).__name__


_gpu_resources: list = []  # one StandardGpuResources for the process; GPU indexes need it alive


def _to_gpu(index: faiss.Index, use_gpu: bool | None) -> faiss.Index:
    """The index on GPU 0 when asked (True) or possible (None); None falls back to the CPU for index types FAISS
    cannot run on a GPU (HNSW, fast-scan PQ), True raises. IVF-PQ gets float16 lookup tables (FAISS needs them on
    the GPU for many sub-quantizers)."""
    if use_gpu is False or (use_gpu is None and not gpu_available()):
        return index
    if not gpu_available():
        raise ValueError("use_gpu=True, but FAISS has no GPU support here (install faiss-gpu) or sees no GPU")
    if not _gpu_resources:
        _gpu_resources.append(faiss.StandardGpuResources())
    options = faiss.GpuClonerOptions()
    ivf = faiss.try_extract_index_ivf(index)
    options.useFloat16 = ivf is not None and isinstance(faiss.downcast_index(ivf), faiss.IndexIVFPQ)
    try:
        return faiss.index_cpu_to_gpu(_gpu_resources[0], 0, index, options)
    except RuntimeError as err:
        if use_gpu:
            raise ValueError(f"FAISS cannot run {type(index).__name__} on a GPU: {str(err).splitlines()[0]}"
                             ) from None
        return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m copyscope.ann_index", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("embeddings", help="a finished embedding set (copyscope.sharded_embedding's output)")
    parser.add_argument("out", help="folder for the index")
    parser.add_argument("--factory", help="FAISS index_factory string (default: default_factory)")
    parser.add_argument("--parameters", help='search parameters, e.g. "nprobe=64" (default: default_parameters)')
    parser.add_argument("--candidates", type=int, default=100, help="re-ranking depth")
    parser.add_argument("--train-size", type=int, help="rows sampled to train the index")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None,
                        help="FAISS GPU index (default: when FAISS has GPU support and the index runs there)")
    args = parser.parse_args(argv)
    try:
        index = ApproximateIndex.build(EmbeddingSet(args.embeddings), args.factory, args.train_size,
                                       args.parameters, args.candidates, args.seed, args.gpu)
        index.save(args.out)
    except ValueError as err:  # DataError is one
        if os.environ.get("COPYSCOPE_DEBUG") == "1":
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    meta = index.meta
    print(f"{meta['factory']} over {meta['rows']:,} rows ({index.nbytes / 2**20:.0f} MB) built in "
          f"{meta['build_seconds']:.1f} s, searched with {meta['parameters'] or 'no parameters'} and "
          f"{meta['candidates']} re-ranked candidates: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
