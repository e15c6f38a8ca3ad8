"""Exact vs approximate replication search on synthetic embeddings: build time, queries/s, memory, recall@1.

    python -m copyscope.search_benchmark                                        # 100k × 128-d, seconds
    python -m copyscope.search_benchmark --n 1000000 --dim 512 --queries 2000   # the documented run (minutes)

The database is written to disk as an embedding set (float16 shards of `--shard-rows`), never held whole except by
the in-memory baseline: clustered unit vectors (one cluster per 1,000 rows; within a cluster, noise whose variance
falls off as 1/rank over a random basis, like learned descriptors whose variance concentrates in few directions).
Half the queries are copies (a database row plus small noise, the replicas a study hunts), half are novel draws
from the same clusters (generations that copy nothing). Three searches run, each in a fresh process so that its
peak resident memory is its own:

- `flat, in memory`: today's path, `copyscope.search.top_k` over the whole database loaded as float32;
- `exact, sharded`: `ShardedDatabase` without an index, one shard in memory at a time (the ground truth);
- the approximate index (`--factory`, default `ann_index.default_factory`: IVF with √n lists over 4-bit fast-scan
  PQ of dim / 4 bytes per row, probing a sixteenth of the lists) trained on a sample and filled shard by shard,
  its `--candidates` (100) best re-ranked exactly against the stored rows.

recall@1 is the fraction of queries whose exact nearest row is found (ties in score count as found); "no re-rank"
is the index's own first candidate; "max score error" the largest shortfall of the returned top-1 similarity.
"""
from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from copyscope.atomic import write_json
from copyscope.embedding_set import EmbeddingSet, write_manifest, write_shard

ROWS_PER_CLUSTER = 1000
COPY_NOISE = 0.3  # norm of the noise added to a row to make a copy query (a copy keeps cosine ≈ 0.96)
TIE = 1e-6  # scores this close to the exact top-1 count as found


@dataclass(frozen=True)
class Mixture:
    """Clustered unit vectors: centre + noise with a 1/rank variance spectrum over a random basis, normalised."""

    dim: int
    clusters: int
    seed: int
    spread: float = 1.0  # noise norm relative to the (unit) centre

    def centres(self) -> np.ndarray:
        c = np.random.default_rng([self.seed, 0]).standard_normal((self.clusters, self.dim)).astype(np.float32)
        return c / np.linalg.norm(c, axis=1, keepdims=True)

    def noise_basis(self) -> np.ndarray:
        """(dim, dim) map from white noise to noise of total variance 1 with variances ∝ 1/rank."""
        basis, _ = np.linalg.qr(np.random.default_rng([self.seed, 1]).standard_normal((self.dim, self.dim)))
        scale = np.arange(1, self.dim + 1) ** -0.5
        return (scale[:, None] / np.linalg.norm(scale) * basis.T).astype(np.float32)

    def draw(self, n: int, rng: np.random.Generator, centres: np.ndarray, basis: np.ndarray) -> np.ndarray:
        labels = rng.integers(0, self.clusters, n)
        x = centres[labels] + self.spread * (rng.standard_normal((n, self.dim), dtype=np.float32) @ basis)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def write_synthetic(folder: str | Path, n: int, dim: int, shard_rows: int = 100_000, dtype: str = "float16",
                    seed: int = 0, progress: bool = True) -> EmbeddingSet:
    """n synthetic rows as an embedding set in `folder`, written shard by shard (one shard in memory)."""
    mixture = Mixture(dim, max(8, n // ROWS_PER_CLUSTER), seed)
    centres, basis = mixture.centres(), mixture.noise_basis()
    names = []
    for s, start in enumerate(tqdm(range(0, n, shard_rows), desc="write synthetic shards", disable=not progress)):
        rows = mixture.draw(min(shard_rows, n - start), np.random.default_rng([seed, 2, s]), centres, basis)
        names.append(f"{s:05d}")
        write_shard(folder, names[-1], [f"synthetic/{start + i}" for i in range(len(rows))], rows, dtype)
    return write_manifest(folder, names)


def synthetic_queries(embeddings: EmbeddingSet, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n float32 unit queries, the first half copies of random rows, the rest novel draws; and the copy mask."""
    rng = np.random.default_rng([seed, 3])
    mixture = Mixture(embeddings.dim, max(8, len(embeddings) // ROWS_PER_CLUSTER), seed)
    copies = embeddings.rows(rng.choice(len(embeddings), n // 2, replace=False))
    copies += COPY_NOISE * rng.standard_normal(copies.shape, dtype=np.float32) / np.sqrt(embeddings.dim)
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    novel = mixture.draw(n - n // 2, rng, mixture.centres(), mixture.noise_basis())
    return np.concatenate([copies, novel]), np.arange(n) < n // 2


def peak_rss() -> int:
    """This process's peak resident set size in bytes: /proc's VmHWM where there is one (getrusage's ru_maxrss
    survives exec on Linux and would report the parent's peak), else ru_maxrss (KiB on Linux, bytes on macOS)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def run_search(method: str, folder: str, queries_file: str, result_file: str, settings: dict) -> dict:
    """One search, in whatever process calls it: timings and memory, the top-1 rows and scores into result_file."""
    import faiss

    from copyscope.ann_index import ApproximateIndex, rerank
    from copyscope.search import top_k
    from copyscope.sharded_search import ShardedDatabase

    if settings["threads"]:
        faiss.omp_set_num_threads(settings["threads"])
    baseline = peak_rss()
    embeddings, queries = EmbeddingSet(folder), np.load(queries_file)
    report, first = {"method": method, "build_seconds": 0.0, "index_bytes": None}, None
    start = time.perf_counter()
    if method == "flat":
        database = np.concatenate([embeddings.shard(i) for i in range(len(embeddings.shards))])
        report["index_bytes"] = database.nbytes
        load = time.perf_counter()
        scores, rows = top_k(queries, database, k=1)
        start = load
    elif method == "sharded":
        scores, rows = ShardedDatabase(embeddings).top_k(queries, 1)
    else:
        index = ApproximateIndex.build(embeddings, settings["factory"], settings["train_size"],
                                       settings["parameters"], settings["candidates"], use_gpu=settings["gpu"],
                                       progress=False)
        report["build_seconds"], report["index_bytes"] = time.perf_counter() - start, index.nbytes
        report["factory"], report["parameters"] = index.meta["factory"], index.meta["parameters"]
        start = time.perf_counter()
        _, candidates = index.candidates_for(queries)
        scores, rows = rerank(queries, candidates, embeddings, 1)
        first = candidates[:, 0]
    report["search_seconds"] = time.perf_counter() - start
    report["queries_per_second"] = len(queries) / report["search_seconds"]
    report["peak_rss_bytes"], report["baseline_rss_bytes"] = peak_rss(), baseline
    np.savez(result_file, scores=scores[:, 0], rows=rows[:, 0], first=first if first is not None else rows[:, 0])
    return report


def _child(conn, *args) -> None:
    try:
        conn.send(("ok", run_search(*args)))
    except BaseException as err:  # the parent re-raises it with the child's message
        conn.send(("error", f"{type(err).__name__}: {err}"))
    finally:
        conn.close()


def in_fresh_process(*args) -> dict:
    """`run_search(*args)` in a new (spawned) Python process, so that its peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, *args))
    process.start()
    child.close()
    try:
        status, value = parent.recv()
    except EOFError:  # it died without a word: killed, most often for memory
        process.join()
        raise RuntimeError(f"search {args[0]} died with exit code {process.exitcode} (out of memory?)") from None
    process.join()
    if status != "ok":
        raise RuntimeError(f"search {args[0]} failed: {value}")
    return value


def recall(rows: np.ndarray, scores: np.ndarray, truth_rows: np.ndarray, truth_scores: np.ndarray) -> np.ndarray:
    """Per query: found its exact nearest row (or one tied with it in score)."""
    return (rows == truth_rows) | (scores >= truth_scores - TIE)


def benchmark(n: int = 100_000, dim: int = 128, queries: int = 2000, shard_rows: int = 100_000,
              dtype: str = "float16", factory: str | None = None, parameters: str | None = None,
              candidates: int = 100, train_size: int | None = None, gpu: bool | None = None,
              threads: int | None = None, seed: int = 0, workdir: str | Path | None = None,
              progress: bool = True) -> list[dict]:
    """Write the synthetic set and queries, run the three searches in fresh processes, and score them against the
    exact sharded search: one row per method."""
    with tempfile.TemporaryDirectory(dir=workdir, prefix="search-benchmark-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        embeddings = write_synthetic(tmp / "embeddings", n, dim, shard_rows, dtype, seed, progress)
        q, is_copy = synthetic_queries(embeddings, queries, seed)
        np.save(tmp / "queries.npy", q)
        written = time.perf_counter() - start
        settings = {"factory": factory, "parameters": parameters, "candidates": candidates,
                    "train_size": train_size, "gpu": gpu, "threads": threads}
        reports, results = [], {}
        for method in tqdm(("sharded", "flat", "approximate"), desc="searches", disable=not progress):
            reports.append(in_fresh_process(method, str(tmp / "embeddings"), str(tmp / "queries.npy"),
                                            str(tmp / f"{method}.npz"), settings))
            results[method] = dict(np.load(tmp / f"{method}.npz"))
    truth = results["sharded"]
    for report in reports:
        got = results[report["method"]]
        hit = recall(got["rows"], got["scores"], truth["rows"], truth["scores"])
        report.update(n=n, dim=dim, queries=queries, dtype=dtype, data_seconds=written, threads=threads,
                      recall_at_1=float(hit.mean()), recall_copies=float(hit[is_copy].mean()),
                      recall_novel=float(hit[~is_copy].mean()),
                      recall_no_rerank=float((got["first"] == truth["rows"]).mean()),
                      max_score_error=float(np.max(truth["scores"] - got["scores"])))
        if report["method"] == "approximate":
            report["candidates"] = candidates
    return reports


def table(reports: list[dict]) -> str:
    """The reports as a fixed-width text table."""
    names = {"flat": "flat, in memory (search.top_k)", "sharded": "exact, sharded (ground truth)"}
    header = (f"{'method':<40} {'build s':>8} {'search s':>9} {'queries/s':>10} {'peak RSS MB':>12} "
              f"{'(+work)':>8} {'index MB':>9} {'recall@1':>9} {'copies':>7} {'novel':>7} {'no rerank':>10} "
              f"{'max err':>8}")
    lines = [header, "-" * len(header)]
    for r in reports:
        name = names.get(r["method"], f"{r.get('factory')} {r.get('parameters')} +{r.get('candidates')} re-rank")
        index_mb = "-" if r["index_bytes"] is None else f"{r['index_bytes'] / 2**20:.0f}"
        work = (r["peak_rss_bytes"] - r["baseline_rss_bytes"]) / 2**20
        lines.append(f"{name:<40} {r['build_seconds']:>8.1f} {r['search_seconds']:>9.1f} "
                     f"{r['queries_per_second']:>10.0f} {r['peak_rss_bytes'] / 2**20:>12.0f} {work:>8.0f} "
                     f"{index_mb:>9} {r['recall_at_1']:>9.4f} {r['recall_copies']:>7.3f} {r['recall_novel']:>7.3f} "
                     f"{r['recall_no_rerank']:>10.3f} {r['max_score_error']:>8.4f}")
    r = reports[0]
    threads = f"{r['threads']} FAISS thread(s)" if r["threads"] else "FAISS's default threads"
    lines.append(f"{r['n']:,} × {r['dim']}-d {r['dtype']} rows, {r['queries']:,} queries (half copies), {threads}; "
                 f"synthetic data written in {r['data_seconds']:.0f} s; +work: peak RSS above the process's "
                 f"{r['baseline_rss_bytes'] / 2**20:.0f} MB after imports")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m copyscope.search_benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="database rows")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--shard-rows", type=int, default=100_000)
    parser.add_argument("--dtype", default="float16", choices=("float16", "float32"))
    parser.add_argument("--factory", help="FAISS index_factory string (default: ann_index.default_factory)")
    parser.add_argument("--parameters", help='FAISS search parameters, e.g. "nprobe=32" or "efSearch=128" '
                        "(default: ann_index.default_parameters, a sixteenth of the inverted lists)")
    parser.add_argument("--candidates", type=int, default=100, help="re-ranking depth")
    parser.add_argument("--train-size", type=int, help="rows sampled to train the index")
    parser.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None,
                        help="FAISS GPU index (default: when FAISS has GPU support)")
    parser.add_argument("--threads", type=int, help="FAISS OpenMP threads (default: FAISS's; 1 on a busy machine)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="where the temporary database goes (default: the system temp folder)")
    parser.add_argument("--json", help="also write the reports here")
    args = parser.parse_args(argv)
    reports = benchmark(args.n, args.dim, args.queries, args.shard_rows, args.dtype, args.factory, args.parameters,
                        args.candidates, args.train_size, args.gpu, args.threads, args.seed, args.workdir)
    print(table(reports))
    if args.json:
        write_json(args.json, reports)
    return 0


if __name__ == "__main__":
    sys.exit(main())
