"""What a scale needs downloaded by hand, and which of it is on this machine: `python -m copyscope downloads`.

Each needed item is checked the way its loader finds it (without loading it), so the listing and the run agree. At
the `sd` scale everything listed is required and the params stage stops with this listing before any work; at the
embedded scales only the extractor that `extractors.use` names is required, and the other downloaded candidates are
optional (the extractor stage skips a missing one).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from copyscope.config import Params
from copyscope.downloads import MissingWeights, require
from copyscope.paths import downloads_dir

DOWNLOADED = {"sscd_disc_mixup", "sscd_disc_large", "dino_vitb16", "clip_vitb32"}  # extractors with weights to fetch
TRAINING_IMAGES_HOW = ("download the LAION images of the prompts (their URLs are in the prompt files, e.g. "
                       "Webster's `url` column) with img2dataset, output_format files or webdataset")


@dataclass(frozen=True)
class Needed:
    """One download: what it is, a check that returns where it was found (or raises MissingWeights), required?"""

    what: str
    find: Callable[[], Path | str]
    required: bool = True


@dataclass(frozen=True)
class Found:
    what: str
    required: bool
    where: Path | str | None  # None: missing
    problem: str = ""  # the loader's message when missing: what to download, from where, where to put it


def needed(params: Params) -> list[Needed]:
    """Every download the scale reads, in the order the pipeline reads them: at the embedded scales the extractor
    candidates that need weights, at `sd` what the Stable Diffusion studies load."""
    spec = params.stable_diffusion
    if spec is None:
        return [Needed(f"extractor {name}", _extractor(name), required=name == params.extractors.use)
                for name in params.extractors.candidates if name in DOWNLOADED]
    from copyscope import prompt_sets
    from copyscope.models.stable_diffusion import locate

    descriptor = [Needed(f"copy descriptor {spec.extractor}", _extractor(spec.extractor))
                  ] if spec.extractor in DOWNLOADED else []
    return [Needed(f"Stable Diffusion {spec.pipeline}", lambda: locate(spec.pipeline)), *descriptor,
            Needed(f"CLIP {spec.clip_arch} ({spec.clip_tag or spec.clip_checkpoint}) for the CLIP score",
                   lambda: clip_checkpoint(spec)),
            *(Needed(f"prompts: {p.format}", lambda p=p: prompt_sets.locate(p.format, p.path)) for p in spec.prompts),
            Needed(f"training images {spec.training_images}", lambda: training_images(spec.training_images))]


def clip_checkpoint(spec) -> Path:
    """The CLIP-score model's checkpoint: `clip_checkpoint` (under downloads), or open_clip's published weights."""
    if spec.clip_checkpoint is not None:
        return require(spec.clip_checkpoint, f"open_clip checkpoint for {spec.clip_arch}", "your own training run",
                       "any open_clip state dict of that architecture")
    from copyscope.embed.online import open_clip_checkpoint

    return open_clip_checkpoint(spec.clip_arch, spec.clip_tag)


def training_images(path: str | Path) -> Path:
    """The training-image shards (img2dataset `files`/`webdataset` layout, or a folder of images) at `path`
    (relative: under downloads), holding at least one shard."""
    from copyscope.shards import DataError, list_shards

    folder = require(path, "training images (img2dataset layout)", "LAION (e.g. via img2dataset)", TRAINING_IMAGES_HOW)
    try:
        list_shards(folder)
    except DataError as err:
        raise MissingWeights(f"training images at {folder}: {err}") from None
    return folder


def check(params: Params) -> list[Found]:
    """Each needed item, found or with its loader's message."""
    found = []
    for item in needed(params):
        try:
            found.append(Found(item.what, item.required, item.find()))
        except MissingWeights as missing:
            found.append(Found(item.what, item.required, None, " ".join(str(missing).split())))
    return found


def missing_required(found: list[Found]) -> list[Found]:
    return [f for f in found if f.required and f.where is None]


def listing(found: list[Found], scale: str) -> str:
    """One line per item (present, missing, or optional and missing) and a last line counting what is missing."""
    lines = [f"scale {scale!r}: downloads under {downloads_dir()}"]
    for item in found:
        state = "present " if item.where is not None else "MISSING " if item.required else "optional"
        lines.append(f"  {state} {item.what}: {item.where if item.where is not None else item.problem}")
    if not found:
        lines.append("  nothing to download")
    lost = missing_required(found)
    lines.append(f"{len(lost)} required download(s) missing" if lost else "every required download is present")
    return "\n".join(lines)


def require_all(params: Params) -> None:
    """MissingWeights with the whole listing when any required download is missing."""
    found = check(params)
    if missing_required(found):
        raise MissingWeights(listing(found, params.scale))



def _extractor(name: str) -> Callable[[], Path]:
    """The check for a downloaded extractor's weights (registry name)."""
    from copyscope.embed import online

    if name.startswith("sscd_"):
        return lambda: online.sscd_weights(name)
    if name == "dino_vitb16":
        return online.dino_weights
    if name == "clip_vitb32":
        return lambda: online.open_clip_checkpoint(online.CLIP_ARCH, online.CLIP_TAG)
    raise ValueError(f"extractor {name!r} needs no download")
