"""An embedding set on disk: one embedding shard per input shard, read one shard (or a few rows) at a time.

A folder holds, for each shard NAME, `NAME.npy` (float16 or float32 rows, L2-normalised) and `NAME.ids.txt` (one
image id per line, in row order); `embedding.json` records how they were made (extractor, options, dtype), and
`manifest.json`, written once every shard is done, lists the shards in order with their row counts. Rows are
numbered across the set in manifest order: that global index is what searches return.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from copyscope.atomic import atomic_file, save_npy, write_json
from copyscope.data.sources import DataError

CONFIG = "embedding.json"
MANIFEST = "manifest.json"
DTYPES = ("float16", "float32")


def embedding_file(folder: str | Path, name: str) -> Path:
    return Path(folder) / f"{name}.npy"


def ids_file(folder: str | Path, name: str) -> Path:
    return Path(folder) / f"{name}.ids.txt"


def is_done(folder: str | Path, name: str) -> bool:
    """Whether shard `name` was written completely (its embeddings are written last, atomically)."""
    return embedding_file(folder, name).is_file() and ids_file(folder, name).is_file()


def write_shard(folder: str | Path, name: str, ids: list[str], embeddings: np.ndarray, dtype: str) -> None:
    """Write one embedding shard: the ids first, the embeddings last, each atomically, so a killed run leaves either
    a finished shard or one that `is_done` reports unfinished."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if len(ids) != len(embeddings):
        raise ValueError(f"shard {name}: {len(ids)} ids for {len(embeddings)} embeddings")
    if any("\n" in i for i in ids):
        raise DataError(f"shard {name}: an image id contains a newline")
    with atomic_file(ids_file(folder, name)) as handle:
        handle.write("".join(f"{i}\n" for i in ids))
    save_npy(embedding_file(folder, name), np.asarray(embeddings).astype(dtype, copy=False))


def check_config(folder: str | Path, config: dict, name: str = CONFIG) -> None:
    """Record how a resumable run's output is made in `folder/name` (`embedding.json`); if the folder already
    records something else, refuse: a resumed run must not mix extractors, precisions or prompts."""
    path = Path(folder) / name
    if path.is_file():
        found = json.loads(path.read_text())
        if found != json.loads(json.dumps(config)):
            shown = {k: v for k, v in found.items() if k != "prompts"}
            raise ValueError(f"{path} records another run ({shown}); use a new output folder, or delete that one "
                             f"to start over")
        return
    write_json(path, config)


def write_manifest(folder: str | Path, names: list[str]) -> "EmbeddingSet":
    """List the finished shards `names` (in this order) in `manifest.json` and open the set."""
    folder = Path(folder)
    missing = [n for n in names if not is_done(folder, n)]
    if missing:
        raise DataError(f"{folder}: shards not embedded yet: {', '.join(missing[:5])}"
                        f"{' …' if len(missing) > 5 else ''}")
    shards = []
    for name in names:
        array = np.load(embedding_file(folder, name), mmap_mode="r")
        shards.append({"name": name, "rows": int(array.shape[0]), "dim": int(array.shape[1]) if array.size else 0,
                       "dtype": str(array.dtype)})
    write_json(folder / MANIFEST, {"shards": shards})
    return EmbeddingSet(folder)


@dataclass(frozen=True)
class ShardInfo:
    name: str
    rows: int
    offset: int  # global index of its first row


class EmbeddingSet:
    """A finished embedding set (its `manifest.json` exists): shapes, ids, whole shards and gathered rows."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        manifest = self.folder / MANIFEST
        if not manifest.is_file():
            raise DataError(f"{manifest} does not exist: {self.folder} is not a finished embedding set "
                            f"(run or resume `python -m copyscope.sharded_embedding` into it)")
        entries = json.loads(manifest.read_text())["shards"]
        if not entries:
            raise DataError(f"{manifest} lists no shards")
        offsets = np.cumsum([0] + [e["rows"] for e in entries])
        self.shards = [ShardInfo(e["name"], e["rows"], int(o)) for e, o in zip(entries, offsets)]
        self.offsets = offsets  # shard i holds global rows offsets[i]:offsets[i + 1]
        dims = {e["dim"] for e in entries if e["rows"]}
        dtypes = {e["dtype"] for e in entries if e["rows"]}
        if len(dims) != 1 or len(dtypes) != 1:
            raise DataError(f"{manifest}: shards disagree on dimension {sorted(dims)} or dtype {sorted(dtypes)}")
        self.dim, self.dtype = dims.pop(), dtypes.pop()
        self._layouts: dict[int, tuple] = {}  # shard -> (path, data offset, shape, dtype, fortran order)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def config(self) -> dict:
        """How the set was made (`embedding.json`); {} for sets written without one (e.g. synthetic benchmarks)."""
        path = self.folder / CONFIG
        return json.loads(path.read_text()) if path.is_file() else {}

    def shard(self, i: int) -> np.ndarray:
        """Shard i's rows as float32 (loaded: one shard in memory at a time)."""
        info = self.shards[i]
        array = np.load(embedding_file(self.folder, info.name))
        if array.shape[0] != info.rows:
            raise DataError(f"{embedding_file(self.folder, info.name)} has {array.shape[0]} rows, the manifest "
                            f"says {info.rows}: the set changed after it was finished")
        return array.astype(np.float32, copy=False).reshape(info.rows, self.dim)

    def shard_ids(self, i: int) -> list[str]:
        path = ids_file(self.folder, self.shards[i].name)
        ids = path.read_text().splitlines()
        if len(ids) != self.shards[i].rows:
            raise DataError(f"{path} has {len(ids)} ids for {self.shards[i].rows} rows")
        return ids

    def ids(self, indices: np.ndarray | None = None) -> list[str]:
        """The image ids of global rows `indices` (all rows without)."""
        if indices is None:
            return [i for s in range(len(self.shards)) for i in self.shard_ids(s)]
        indices = self._checked(indices)
        shard_of = np.searchsorted(self.offsets, indices, side="right") - 1
        out: list[str] = [""] * len(indices)
        for s in np.unique(shard_of):
            ids = self.shard_ids(int(s))
            for j in np.flatnonzero(shard_of == s):
                out[j] = ids[indices[j] - self.offsets[s]]
        return out

    def rows(self, indices: np.ndarray) -> np.ndarray:
        """Global rows `indices` as float32 (len(indices), dim), read through memory maps: only those rows' pages are
        touched, and the maps are dropped afterwards (resident memory stays bounded)."""
        indices = self._checked(indices)
        out = np.empty((len(indices), self.dim), np.float32)
        order = np.argsort(indices, kind="stable")
        ordered = indices[order]
        bounds = np.searchsorted(ordered, self.offsets)
        for s, info in enumerate(self.shards):
            lo, hi = bounds[s], bounds[s + 1]
            if lo < hi:
                mapped = self._map(s)
                out[order[lo:hi]] = mapped[ordered[lo:hi] - info.offset]
                del mapped
        return out

    def _map(self, i: int) -> np.memmap:
        """Shard i's rows memory-mapped read-only (its .npy header is parsed once, then remembered)."""
        if i not in self._layouts:
            path = embedding_file(self.folder, self.shards[i].name)
            with open(path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(
                    version, np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(handle)
                self._layouts[i] = (path, handle.tell(), shape, dtype, fortran)
        path, offset, shape, dtype, fortran = self._layouts[i]
        if fortran or shape != (self.shards[i].rows, self.dim):
            raise DataError(f"{path} holds a {shape} array, the manifest says ({self.shards[i].rows}, {self.dim})")
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n distinct rows drawn uniformly (all rows if n ≥ len), as float32, in global order: a training sample for
        an approximate index, read shard by shard."""
        if n >= len(self):
            return np.concatenate([self.shard(i) for i in range(len(self.shards))])
        chosen = np.sort(np.random.default_rng(seed).choice(len(self), size=n, replace=False))
        return self.rows(chosen)

    def _checked(self, indices) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64).ravel()
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"row indices must lie in [0, {len(self)}), got {indices.min()}..{indices.max()}")
        return indices
