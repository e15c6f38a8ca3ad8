"""Synthetic copies (paper A, section 4): cutmix and segmix queries whose source image is known.

A cutmix copy pastes a square box of a source image onto a target image (at the same place); a segmix copy cuts a
source's masked objects out, augments them, and pastes them at a random place on a target. A benchmark searches
each query against a database of the sources mixed with distractors; queries also include non-copies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from copyscope import augment

KINDS = ("cutmix", "segmix", "both")


class Copy(NamedTuple):
    image: np.ndarray  # uint8 H×W×3
    region: np.ndarray  # bool H×W: the pixels taken from the source


def cutmix_copy(source: np.ndarray, target: np.ndarray, beta: float, rng: np.random.Generator) -> Copy:
    """`target` with a square box of `source` pasted at the same place; the box covers a fraction λ ~ Beta(β, β) of
    the image (rounded to whole pixels, at least one)."""
    if source.shape != target.shape or source.ndim != 3 or source.shape[-1] != 3:
        raise ValueError(f"source and target must be H×W×3 images of one size, got {source.shape} and {target.shape}")
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    height, width = target.shape[:2]
    area = rng.beta(beta, beta)
    side = int(np.clip(round(np.sqrt(area * height * width)), 1, min(height, width)))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    region = np.zeros(target.shape[:2], dtype=bool)
    region[top:top + side, left:left + side] = True
    return Copy(np.where(region[..., None], source, target), region)


def segmix_copy(source: np.ndarray, source_mask: np.ndarray, target: np.ndarray,
                rng: np.random.Generator) -> Copy:
    """`target` with the masked region of `source` (mask != 0) augmented as in paper A and pasted at a random place.

    Augmentation: ColorJitter(0.4, 0.4, 0.2, 0.1) with p = 0.8; GaussianBlur(5, σ ~ U(0.1, 4)); RandomGrayscale(0.3);
    RandomSolarize(threshold 0.9 of the range, torchvision's default p = 0.5); RandomAutocontrast(0.3); horizontal
    flip 0.5, vertical flip 0.2; resized by U(0.75, 1.0) and rotated by U(-10°, 10°) about the image centre. The
    region's bounding box is then placed uniformly inside the target.
    """
    return segmix_copies(source[None], source_mask[None], target[None], rng)[0]


def segmix_copies(sources: np.ndarray, source_masks: np.ndarray, targets: np.ndarray,
                  rng: np.random.Generator) -> list[Copy]:
    """`segmix_copy` for a batch of (source, mask, target) triples, augmented in one pass."""
    if sources.shape != targets.shape or sources.ndim != 4 or sources.shape[-1] != 3:
        raise ValueError(f"sources and targets must be N×H×W×3 images of one size, got {sources.shape} and "
                         f"{targets.shape}")
    if source_masks.shape != sources.shape[:3]:
        raise ValueError(f"masks {source_masks.shape[1:]} do not match images {sources.shape[1:3]}")
    if not np.all(np.any(source_masks, axis=(1, 2))):
        raise ValueError("a source mask is empty: segmix needs an object or region to paste")
    n = len(sources)
    generator = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
    original = torch.from_numpy(sources).permute(0, 3, 1, 2).float() / 255
    x = augment.color_jitter(original, generator, 0.4, 0.4, 0.2, 0.1, p=0.8)
    x = augment.random_gaussian_blur(x, generator, 5, (0.1, 4.0))
    x = augment.random_grayscale(x, generator, 0.3)
    x = augment.random_solarize(x, generator, 0.9, 0.5)
    x = augment.random_autocontrast(x, generator, 0.3)
    zoom = augment.uniform(generator, n, 0.75, 1.0)
    geometry = augment.Geometry(1 / zoom, 1 / zoom, augment.uniform(generator, n, -10, 10), torch.zeros(n),
                                torch.zeros(n), augment.coin(generator, n, 0.5), augment.coin(generator, n, 0.2))
    masks = torch.from_numpy((source_masks != 0).astype(np.float32)).unsqueeze(1)
    x, warped = augment.warp(x, geometry), augment.warp(masks, geometry) >= 0.5
    lost = ~warped.flatten(1).any(dim=1).view(-1, 1, 1, 1)  # a sliver rotated out of the frame: paste it unwarped
    x, warped = torch.where(lost, original, x), torch.where(lost, masks > 0, warped)
    pixels = (x.permute(0, 2, 3, 1).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    return [_paste(pixels[i], warped[i, 0].numpy(), targets[i], rng) for i in range(n)]


def _paste(pixels: np.ndarray, region: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> Copy:
    """Copy `pixels` where `region` is set onto `target`, the region's bounding box moved to a random place."""
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    height, width = r1 - r0, c1 - c0
    top = int(rng.integers(0, target.shape[0] - height + 1))
    left = int(rng.integers(0, target.shape[1] - width + 1))
    placed = np.zeros(target.shape[:2], dtype=bool)
    placed[top:top + height, left:left + width] = region[r0:r1, c0:c1]
    moved = np.zeros_like(pixels)
    moved[top:top + height, left:left + width] = pixels[r0:r1, c0:c1]
    return Copy(np.where(placed[..., None], moved, target), placed)


@dataclass
class CopyBenchmark:
    """Queries to search against a database; `source_index[q]` is the database row query q copies (-1: none)."""

    database: np.ndarray  # uint8 (D, H, W, 3): the sources and the database distractors, shuffled
    queries: np.ndarray  # uint8 (Q, H, W, 3): the copies, then the distractor queries
    source_index: np.ndarray  # (Q,) int
    kind: np.ndarray  # (Q,) "cutmix", "segmix" or "distractor"
    database_origin: np.ndarray  # (D,) index of each database image in the input images
    query_origin: np.ndarray  # (Q,) index of the pasted-on target (copies) or of the image itself (distractors)
    copied_fraction: np.ndarray  # (Q,) fraction of each query's pixels taken from its source (0 for distractors)
    meta: dict = field(default_factory=dict)

    @property
    def is_copy(self) -> np.ndarray:
        return self.source_index >= 0


def build_benchmark(images: np.ndarray, masks: np.ndarray | None, n_copies: int, n_distractor_queries: int,
                    n_distractor_database: int, kind: str = "both", beta: float = 1.0,
                    seed: int = 0) -> CopyBenchmark:
    """A copy benchmark from disjoint pools of the images: sources, pasted-on targets, distractor queries and
    database distractors (so a non-copy query derives from nothing in the database). With kind "both" each copy is
    cutmix or segmix at random. A segmix copy pastes all of its source's masked objects (mask != 0); segmix sources
    are drawn among images whose mask is not empty."""
    if kind not in KINDS:
        raise ValueError(f"unknown copy kind {kind!r}; expected one of {KINDS}")
    if kind != "cutmix" and masks is None:
        raise ValueError(f"{kind} copies need object masks, and none were given")
    if min(n_copies, n_distractor_queries, n_distractor_database) < 0 or n_copies == 0:
        raise ValueError("need at least one copy and non-negative distractor counts")
    needed = 2 * n_copies + n_distractor_queries + n_distractor_database
    if needed > len(images):
        raise ValueError(f"{n_copies} copies (each a source and a target), {n_distractor_queries} distractor queries "
                         f"and {n_distractor_database} database distractors need {needed} images; got {len(images)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    kinds = (np.full(n_copies, kind) if kind != "both" else rng.choice(["cutmix", "segmix"], n_copies))
    sources = _pick_sources(order, masks, kinds)
    rest = order[~np.isin(order, sources)]
    targets, rest = rest[:n_copies], rest[n_copies:]
    distractor_queries = rest[:n_distractor_queries]
    database_distractors = rest[n_distractor_queries:n_distractor_queries + n_distractor_database]
    copies: list[Copy] = [None] * n_copies
    for i in np.flatnonzero(kinds == "cutmix"):
        copies[i] = cutmix_copy(images[sources[i]], images[targets[i]], beta, rng)
    segmix = np.flatnonzero(kinds == "segmix")
    if len(segmix):
        pasted = segmix_copies(images[sources[segmix]], masks[sources[segmix]], images[targets[segmix]], rng)
        for i, copy in zip(segmix, pasted):
            copies[i] = copy
    database_origin = rng.permutation(np.concatenate([sources, database_distractors]))
    row_of = {int(origin): row for row, origin in enumerate(database_origin)}
    queries = np.concatenate([np.stack([c.image for c in copies]), images[distractor_queries]])
    return CopyBenchmark(
        database=images[database_origin], queries=queries,
        source_index=np.concatenate([[row_of[int(s)] for s in sources], np.full(n_distractor_queries, -1)]).astype(int),
        kind=np.concatenate([kinds, np.full(n_distractor_queries, "distractor")]).astype(str),
        database_origin=database_origin, query_origin=np.concatenate([targets, distractor_queries]),
        copied_fraction=np.concatenate([[c.region.mean() for c in copies], np.zeros(n_distractor_queries)]),
        meta={"kind": kind, "beta": beta, "seed": seed, "n_copies": n_copies,
              "n_distractor_queries": n_distractor_queries, "n_distractor_database": n_distractor_database},
    )


def _pick_sources(order: np.ndarray, masks: np.ndarray | None, kinds: np.ndarray) -> np.ndarray:
    """The first images of `order` as sources, segmix copies taking those with a non-empty mask."""
    if masks is None:
        return order[:len(kinds)]
    with_mask = order[[bool(np.any(masks[i])) for i in order]]
    n_segmix = int((kinds == "segmix").sum())
    if n_segmix > len(with_mask):
        raise ValueError(f"{n_segmix} segmix copies need as many images with a non-empty mask; "
                         f"only {len(with_mask)} have one")
    segmix_sources = with_mask[:n_segmix]
    others = order[~np.isin(order, segmix_sources)][:len(kinds) - n_segmix]
    sources = np.empty(len(kinds), dtype=int)
    sources[kinds == "segmix"], sources[kinds != "segmix"] = segmix_sources, others
    return sources
