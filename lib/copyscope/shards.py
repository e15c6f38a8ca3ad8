"""Image collections in shards, as img2dataset writes them, read one batch at a time (bounded memory).

A collection is a folder holding `<shard>.tar` files (img2dataset's `webdataset` output), or `<shard>/` folders of
image files (its `files` output), or images directly (one shard, named after the folder). Captions and metadata
beside the images are ignored. Within a shard, images come in key order. Each image's id is the key
`copyscope.data.sources.folder_set` gives the same image: `<shard>/<key>` in a tar, the path relative to the
collection folder otherwise.
"""
from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from copyscope.data.sources import IMAGE_SUFFIXES, DataError, square_resize

TAR_IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp")  # in the order `folder_set` prefers them in a tar
KINDS = ("webdataset", "files")


@dataclass(frozen=True)
class Shard:
    """One input shard: a tar file (`webdataset`) or a folder of image files (`files`)."""

    name: str  # names its embedding shard; unique within a collection
    path: Path
    kind: str
    root: Path  # the folder a `files` shard's ids are relative to (the collection)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"shard kind must be one of {KINDS}, got {self.kind!r}")


def list_shards(root: str | Path) -> list[Shard]:
    """The shards of the collection in `root`, in name order."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image collection {root} does not exist (expected a folder of .tar shards or images)")
    tars = sorted(root.glob("*.tar"))
    if tars:
        return [Shard(t.stem, t, "webdataset", root) for t in tars]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and _has_images(p))
    if folders and _has_images(root):
        raise DataError(f"{root} holds both images and shard folders of images; keep one layout")
    if folders:
        return [Shard(f.name, f, "files", root) for f in folders]
    if _has_images(root):
        return [Shard(root.name, root, "files", root)]
    raise DataError(f"no .tar shards, shard folders or images found in {root}")


def iter_batches(shard: Shard, batch_size: int,
                 resolution: int | None = None) -> Iterator[tuple[list[str], np.ndarray]]:
    """(ids, uint8 images B×H×W×3) of at most `batch_size` images at a time. With `resolution` every image is
    centre-cropped and resized to that square (as `folder_set` does); without, the images must share one size."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if shard.kind == "webdataset":
        with _open_tar(shard.path) as tar:
            index = _tar_index(shard, tar)
            keys = list(index)
            for start in range(0, len(keys), batch_size):
                batch = keys[start:start + batch_size]
                images = [_decode(tar.extractfile(index[k]).read(), f"{shard.path}:{index[k].name}") for k in batch]
                yield [f"{shard.name}/{k}" for k in batch], _stack(images, resolution, shard, batch)
    else:
        files = _image_files(shard.path)
        for start in range(0, len(files), batch_size):
            batch = files[start:start + batch_size]
            ids = [str(p.relative_to(shard.root)) for p in batch]
            yield ids, _stack([_decode(p.read_bytes(), str(p)) for p in batch], resolution, shard, ids)


def read_shard(shard: Shard, resolution: int | None = None) -> tuple[list[str], np.ndarray]:
    """All of a shard's ids and images at once (small shards; `iter_batches` for big ones)."""
    ids, images = [], []
    for batch_ids, batch in iter_batches(shard, 4096, resolution):
        ids += batch_ids
        images.append(batch)
    if not images:
        raise DataError(f"shard {shard.path} holds no images")
    return ids, np.concatenate(images)


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file())


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path)
    except (tarfile.TarError, OSError) as err:
        raise DataError(f"cannot read shard {path}: {err}") from err


def _tar_index(shard: Shard, tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    """Each key's image member, keys sorted; a key with several images keeps the preferred extension."""
    found: dict[str, dict[str, tarfile.TarInfo]] = {}
    try:
        members = tar.getmembers()
    except tarfile.TarError as err:
        raise DataError(f"cannot read shard {shard.path}: {err}") from err
    for member in members:
        key, _, ext = member.name.rpartition(".")
        if member.isfile() and key and ext.lower() in TAR_IMAGE_EXTENSIONS:
            found.setdefault(key, {})[ext.lower()] = member
    return {key: next(exts[e] for e in TAR_IMAGE_EXTENSIONS if e in exts) for key, exts in sorted(found.items())}


def _decode(data: bytes, name: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(f"cannot read image {name}: {err}") from err


def _stack(images: list[Image.Image], resolution: int | None, shard: Shard, ids: list) -> np.ndarray:
    if resolution is not None:
        return np.stack([square_resize(image, resolution) for image in images])
    for image, key in zip(images, ids):
        if image.size != images[0].size:
            raise DataError(f"images in shard {shard.path} differ in size ({images[0].size} and {image.size} at "
                            f"{key}); pass a resolution to resize them")
    return np.stack([np.asarray(image, dtype=np.uint8) for image in images])
