"""Carlini et al. (2023): a memorized prompt yields near-identical images whatever the starting noise.

Two generations' distance is Carlini et al.'s tiled ℓ2: split both images into a grid of non-overlapping tiles
(4 x 4 = 128-pixel tiles at 512 px), take the dimension-normalised ℓ2 distance sqrt(mean((a - b)²)) between each
pair of corresponding tiles (pixels scaled to [0, 1]), and keep the largest, so a shared background cannot hide a
differing object. A prompt's score is minus the median distance over all pairs of its generations: the median, so
that one stray generation does not decide the score.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from copyscope.detection.common import DetectorScores, check_prompts, seconds_since
from copyscope.models.text_to_image import TextToImage
from copyscope.sampling import generate

METHOD = "Carlini et al. tiled l2"


def tiled_l2_distances(images: np.ndarray, grid: int = 4) -> np.ndarray:
    """Tiled ℓ2 between every two of n uint8 images (n, H, W, 3): a symmetric (n, n) matrix, zero diagonal."""
    n, height, width = images.shape[:3]
    if height % grid or width % grid:
        raise ValueError(f"a {grid}x{grid} grid does not split {height}x{width} images into equal tiles")
    tiles = (images.astype(np.float64) / 255).reshape(n, grid, height // grid, grid, width // grid, -1)
    tiles = tiles.transpose(1, 3, 0, 2, 4, 5).reshape(grid * grid, n, -1)  # (tile, image, tile pixels)
    distances = np.zeros((n, n))
    for i in range(n - 1):  # one image against all later ones: exact zeros for copies, memory linear in n
        rms = np.sqrt(((tiles[:, i:i + 1] - tiles[:, i + 1:]) ** 2).mean(axis=2))  # (tile, later images)
        distances[i, i + 1:] = distances[i + 1:, i] = rms.max(axis=0)
    return distances


def carlini_scores(model: TextToImage, prompts: Sequence[str], generations: int = 4, steps: int = 50,
                   guidance: float = 7.5, seed: int = 0, grid: int = 4, batch_size: int = 16,
                   negative_prompt: str = "", progress: bool = True) -> DetectorScores:
    """Minus the median pairwise tiled ℓ2 between each prompt's fully sampled generations."""
    check_prompts(prompts, generations, batch_size)
    if generations < 2:
        raise ValueError("the tiled l2 detector compares generations with each other: it needs generations >= 2")
    start = time.perf_counter()
    repeated = [prompt for prompt in prompts for _ in range(generations)]
    images = generate(model, repeated, seed, steps, guidance, batch_size * generations, negative_prompt, progress)
    return scores_from_generations(images, generations, steps, seconds_since(start, model.device), grid)


def scores_from_generations(images: np.ndarray, generations: int, steps: int, sampling_seconds: float,
                            grid: int = 4) -> DetectorScores:
    """The score of prompts whose `generations` images are consecutive rows of `images` (another detector's run
    with the same seed and sampler draws exactly these); `sampling_seconds` is what drawing them cost."""
    if generations < 2 or len(images) % generations:
        raise ValueError(f"need at least 2 generations per prompt and {len(images)} images in whole groups of "
                         f"{generations}")
    start = time.perf_counter()
    pairs = np.triu_indices(generations, k=1)
    distances = np.stack([tiled_l2_distances(group, grid)[pairs]
                          for group in images.reshape(-1, generations, *images.shape[1:])])
    return DetectorScores(
        METHOD, -np.median(distances, axis=1), steps=steps, generations=generations,
        unet_evals_per_prompt=2.0 * steps * generations, seconds=sampling_seconds + time.perf_counter() - start,
        details={"pair_distances": distances},
    )
