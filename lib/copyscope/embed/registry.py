"""Extractors by name: `get_extractor("sscd_disc_mixup")`, `get_extractor("pixel", size=32)`, ...

Each builder imports its extractor when called, so that knowing the names (params validation, in every training
stage) does not import torchvision and open_clip.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from copyscope.paths import extractors_dir


def _pixel(**options):
    from copyscope.embed.pixel import PixelExtractor
    return PixelExtractor(**options)


def _copy_detector(path: str | Path | None = None, **options):
    """The self-trained copy detector, from `path` or the pipeline's data/extractors/copy_detector."""
    from copyscope.embed.copy_detector import CopyDetector
    return CopyDetector.load(path if path is not None else extractors_dir() / "copy_detector", **options)


def _sscd(name: str) -> Callable:
    def build(**options):
        from copyscope.embed.online import SSCDExtractor
        return SSCDExtractor(name, **options)
    return build


def _dino(**options):
    from copyscope.embed.online import DinoExtractor
    return DinoExtractor(**options)


def _clip(**options):
    """Other CLIP architectures: arch="ViT-L-14", tag="..."."""
    from copyscope.embed.online import ClipExtractor
    return ClipExtractor(**options)


def _efficientnet(**options):
    from copyscope.embed.efficientnet import EfficientNetLite0
    return EfficientNetLite0(**options)


EXTRACTORS: dict[str, Callable] = {
    "pixel": _pixel,
    "copy_detector": _copy_detector,
    "efficientnet_lite0": _efficientnet,
    "sscd_disc_mixup": _sscd("sscd_disc_mixup"),
    "sscd_disc_large": _sscd("sscd_disc_large"),
    "dino_vitb16": _dino,
    "clip_vitb32": _clip,
}


def get_extractor(name: str, **options):
    """The extractor called `name`, built with `options` (e.g. path=, device=, batch_size=; arch= and tag= for
    CLIP). Downloaded-weights extractors raise `MissingWeights` when their files are absent."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown extractor {name!r}; known extractors: {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name](**options)
