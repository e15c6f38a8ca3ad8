"""Embed an image collection shard by shard with any extractor, in parallel Ray Data workers, resumably.

    python -m copyscope.sharded_embedding SOURCE OUT --extractor sscd_disc_mixup [--option size=16 ...]
        [--dtype float16] [--batch-size 256] [--engine ray|local] [--workers N] [--num-gpus 0.25]

SOURCE is a folder of img2dataset shards (`webdataset` tars or `files` folders) or of images (`copyscope.shards`);
OUT receives one embedding shard per input shard (`copyscope.embedding_set`). Every worker (a Ray actor) builds the
extractor once and embeds whole shards, `batch_size` images per extractor call; each shard is written atomically,
so a killed run resumes where it stopped: finished shards are skipped. The `local` engine runs the same per-shard
code in this process; both give identical files. Ray connects to the cluster that `ray.init()` finds (RAY_ADDRESS,
or a cluster started on this machine with `ray start`), else starts a local one. On a real cluster SOURCE and OUT
must be on a filesystem every node sees.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from tqdm.auto import tqdm

from copyscope.embed.registry import EXTRACTORS, get_extractor
from copyscope.embedding_set import DTYPES, EmbeddingSet, check_config, is_done, write_manifest, write_shard
from copyscope.errors import UserError
from copyscope.shards import Shard, iter_batches, list_shards

ENGINES = ("ray", "local")


@dataclass(frozen=True)
class EmbeddingJob:
    """What to embed with: the extractor by registry name and options, output precision, batching, resizing."""

    extractor: str = "pixel"
    options: dict = field(default_factory=dict)
    dtype: str = "float16"
    batch_size: int = 256
    resolution: int | None = None

    def __post_init__(self) -> None:
        if self.extractor not in EXTRACTORS:
            raise ValueError(f"unknown extractor {self.extractor!r}; known extractors: {', '.join(EXTRACTORS)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")

    def config(self) -> dict:
        """What `embedding.json` records (the batch size is left out: it does not change the embeddings)."""
        return {"extractor": self.extractor, "options": self.options, "dtype": self.dtype,
                "resolution": self.resolution}

    def build(self) -> Callable[[np.ndarray], np.ndarray]:
        """The extractor, its per-call progress bar off (a shard job shows progress per shard)."""
        extractor = get_extractor(self.extractor, **self.options)
        if hasattr(extractor, "progress"):
            extractor.progress = False
        return extractor


@dataclass
class EmbeddingRun:
    """The finished set, and what this run did: shards embedded (with the worker that embedded each) and skipped."""

    embeddings: EmbeddingSet
    embedded: dict[str, str]  # shard name -> worker ("host:pid")
    skipped: list[str]
    seconds: float


def embed_shard(shard: Shard, out: str | Path, job: EmbeddingJob, extractor: Callable) -> int:
    """Embed one shard into `out` (batch by batch: one batch of images in memory) and write it; its row count."""
    ids, parts = [], []
    for batch_ids, images in iter_batches(shard, job.batch_size, job.resolution):
        ids += batch_ids
        parts.append(np.asarray(extractor(images)).astype(job.dtype))
    embeddings = np.concatenate(parts) if parts else np.zeros((0, 0), job.dtype)
    write_shard(out, shard.name, ids, embeddings, job.dtype)
    return len(ids)


def pending(shards: list[Shard], out: str | Path) -> list[Shard]:
    """The shards not finished in `out` yet."""
    return [s for s in shards if not is_done(out, s.name)]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def embed_shards(source: str | Path, out: str | Path, job: EmbeddingJob | None = None, engine: str = "ray",
                 workers: int | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 progress: bool = True) -> EmbeddingRun:
    """Embed every unfinished shard of `source` into `out` and write the manifest.

    With the `ray` engine, `workers` actors (default: as many as the cluster's CPUs, or GPUs when `num_gpus` > 0,
    allow) each reserve `num_cpus` CPUs and `num_gpus` GPUs (a fraction shares a GPU between actors, so decoding
    on one overlaps the network on another).
    """
    job = job or EmbeddingJob()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    start = time.perf_counter()
    shards = list_shards(source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    check_config(out, job.config())
    todo = pending(shards, out)
    done = {s.name for s in shards} - {s.name for s in todo}
    if engine == "local":
        embedded = _embed_local(todo, out, job, progress)
    else:
        embedded = _embed_ray(todo, out, job, workers, num_cpus, num_gpus, progress)
    embeddings = write_manifest(out, [s.name for s in shards])
    return EmbeddingRun(embeddings, embedded, sorted(done), time.perf_counter() - start)


def _embed_local(todo: list[Shard], out: Path, job: EmbeddingJob, progress: bool) -> dict[str, str]:
    if not todo:
        return {}
    extractor, worker = job.build(), worker_name()
    for shard in tqdm(todo, desc="embed shards", disable=not progress):
        embed_shard(shard, out, job, extractor)
    return {s.name: worker for s in todo}


class ShardEmbedder:
    """The Ray Data worker: builds the extractor once, then embeds whole shards (one row of the shard table each)."""

    def __init__(self, out: str, job: EmbeddingJob):
        self.out, self.job = out, job
        self.extractor = job.build()
        self.worker = worker_name()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [embed_shard(Shard(str(name), Path(path), str(kind), Path(root)), self.out, self.job, self.extractor)
                for name, path, kind, root in zip(batch["name"], batch["path"], batch["kind"], batch["root"])]
        return {"name": batch["name"], "rows": np.array(rows, np.int64),
                "worker": np.array([self.worker] * len(rows))}


def _embed_ray(todo: list[Shard], out: Path, job: EmbeddingJob, workers: int | None, num_cpus: float,
               num_gpus: float, progress: bool) -> dict[str, str]:
    if not todo:
        return {}
    import ray
    import ray.data

    with _ray_session(), _data_context(progress):
        resources = ray.cluster_resources()
        if num_gpus > 0 and resources.get("GPU", 0) < num_gpus:
            raise ValueError(f"asked for {num_gpus} GPU per worker, the Ray cluster has {resources.get('GPU', 0)}")
        fit = resources.get("CPU", 1) / num_cpus if num_cpus > 0 else len(todo)
        if num_gpus > 0:
            fit = min(fit, resources["GPU"] / num_gpus)
        size = min(len(todo), workers or max(1, int(fit)))
        table = [{"name": s.name, "path": str(s.path.resolve()), "kind": s.kind, "root": str(s.root.resolve())}
                 for s in todo]
        dataset = ray.data.from_items(table, override_num_blocks=len(table)).map_batches(
            ShardEmbedder, fn_constructor_kwargs={"out": str(out.resolve()), "job": job}, batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=size, max_tasks_in_flight_per_actor=1),
            num_cpus=num_cpus, num_gpus=num_gpus)
        embedded = {}
        try:
            for row in tqdm(dataset.iter_rows(), total=len(todo), desc=f"embed shards ({size} workers)",
                            disable=not progress):
                embedded[str(row["name"])] = str(row["worker"])
        except ray.exceptions.RayTaskError as err:
            cause = err.cause if isinstance(err.cause, Exception) else None
            if isinstance(cause, (UserError, ValueError)):
                raise cause from None
            raise
    return embedded


@contextlib.contextmanager
def _ray_session() -> Iterator[None]:
    """The running Ray connection, else `ray.init()` (an existing cluster, or a new local one) for this call."""
    import ray

    if ray.is_initialized():
        yield
        return
    ray.init(include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _data_context(progress: bool) -> Iterator[None]:
    """Ray Data settings for shard jobs: wait until the whole actor pool is up before handing out shards (else the
    first actor takes them all while the others start), raise a worker's own error, print only with `progress`."""
    import ray.data

    context = ray.data.DataContext.get_current()
    settings = {"wait_for_min_actors_s": 600, "raise_original_map_exception": True,
                "enable_progress_bars": False, "print_on_execution_start": progress}
    settings = {k: v for k, v in settings.items() if hasattr(context, k)}  # older Ray versions lack some
    saved = {k: getattr(context, k) for k in settings}
    for key, value in settings.items():
        setattr(context, key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(context, key, value)


def parse_options(pairs: list[str]) -> dict:
    """["size=16", "device=cuda"] -> {"size": 16, "device": "cuda"} (values read as YAML scalars)."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"extractor option {pair!r} must look like key=value")
        options[key] = yaml.safe_load(value)
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m copyscope.sharded_embedding", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="folder of .tar shards, shard folders or images")
    parser.add_argument("out", help="output folder of embedding shards")
    parser.add_argument("--extractor", default="pixel", help=f"one of: {', '.join(EXTRACTORS)}")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="extractor option")
    parser.add_argument("--dtype", default="float16", choices=DTYPES)
    parser.add_argument("--batch-size", type=int, default=256, help="images per extractor call")
    parser.add_argument("--resolution", type=int, help="centre-crop and resize every image to this square")
    parser.add_argument("--engine", default="ray", choices=ENGINES)
    parser.add_argument("--workers", type=int, help="Ray actors (default: what the cluster's resources allow)")
    parser.add_argument("--num-cpus", type=float, default=1, help="CPUs per Ray worker")
    parser.add_argument("--num-gpus", type=float, default=0, help="GPUs per Ray worker (a fraction shares one)")
    args = parser.parse_args(argv)
    try:
        job = EmbeddingJob(args.extractor, parse_options(args.option), args.dtype, args.batch_size, args.resolution)
        run = embed_shards(args.source, args.out, job, args.engine, args.workers, args.num_cpus, args.num_gpus)
    except (UserError, ValueError) as err:
        if os.environ.get("COPYSCOPE_DEBUG") == "1":
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    print(f"{len(run.embeddings)} embeddings ({run.embeddings.dim}-d {run.embeddings.dtype}) in {args.out}: "
          f"{len(run.embedded)} shards embedded, {len(run.skipped)} already done, {run.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
