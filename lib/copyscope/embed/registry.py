"""Extractors by name: `get_extractor("sscd_disc_mixup")`, `get_extractor("pixel", size=32)`, ..."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from copyscope.embed.copy_detector import CopyDetector
from copyscope.embed.online import ClipExtractor, DinoExtractor, SSCDExtractor
from copyscope.embed.pixel import PixelExtractor
from copyscope.paths import extractors_dir


def _copy_detector(path: str | Path | None = None, **options) -> CopyDetector:
    """The self-trained copy detector, from `path` or the pipeline's data/extractors/copy_detector."""
    return CopyDetector.load(path if path is not None else extractors_dir() / "copy_detector", **options)


EXTRACTORS: dict[str, Callable] = {
    "pixel": PixelExtractor,
    "copy_detector": _copy_detector,
    "sscd_disc_mixup": lambda **options: SSCDExtractor("sscd_disc_mixup", **options),
    "sscd_disc_large": lambda **options: SSCDExtractor("sscd_disc_large", **options),
    "dino_vitb16": DinoExtractor,
    "clip_vitb32": ClipExtractor,  # other CLIP architectures: arch="ViT-L-14", tag="..."
}


def get_extractor(name: str, **options):
    """The extractor called `name`, built with `options` (e.g. path=, device=, batch_size=; arch= and tag= for
    CLIP). Downloaded-weights extractors raise `MissingWeights` when their files are absent."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; known extractors: {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name](**options)
