"""Synthetic image collections in img2dataset's layouts, for the shard and sharded-embedding tests."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def random_images(n: int, size: int, seed: int) -> np.ndarray:
    """n smooth-ish random RGB images (uint8 n×size×size×3): noise on a per-image colour."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n, 1, 1, 3))
    return np.clip(base + rng.integers(-40, 41, (n, size, size, 3)), 0, 255).astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_tar(path: Path, images: np.ndarray, first_key: int, captions: bool = True) -> None:
    """One img2dataset webdataset shard: `<key>.png` (+ `<key>.txt`, `<key>.json`) per image, keys counting up."""
    with tarfile.open(path, "w") as tar:
        for offset, image in enumerate(images):
            key = f"{first_key + offset:09d}"
            add_member(tar, f"{key}.png", png_bytes(image))
            if captions:
                add_member(tar, f"{key}.txt", f"image {key}".encode())
                add_member(tar, f"{key}.json", b"{}")


def write_webdataset(root: Path, n_shards: int, per_shard: int, size: int = 8, seed: int = 0) -> np.ndarray:
    """`n_shards` tars of `per_shard` images under `root`; all images in id order."""
    root.mkdir(parents=True, exist_ok=True)
    images = random_images(n_shards * per_shard, size, seed)
    for s in range(n_shards):
        write_tar(root / f"{s:05d}.tar", images[s * per_shard:(s + 1) * per_shard], s * per_shard)
    return images


def write_files(root: Path, n_shards: int, per_shard: int, size: int = 8, seed: int = 0) -> np.ndarray:
    """img2dataset's `files` layout: `<shard>/<key>.png` beside `<key>.txt`."""
    images = random_images(n_shards * per_shard, size, seed)
    for s in range(n_shards):
        folder = root / f"{s:05d}"
        folder.mkdir(parents=True)
        for i in range(per_shard):
            key = f"{s * per_shard + i:09d}"
            (folder / f"{key}.png").write_bytes(png_bytes(images[s * per_shard + i]))
            (folder / f"{key}.txt").write_text(f"image {key}")
    return images
