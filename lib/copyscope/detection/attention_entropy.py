"""Ren et al. (2024): the entropy of the cross-attention over the text tokens at the first sampling step ("LE").

For a layer l, ā^l is the attention distribution over all text tokens (padding included, as in Ren et al.) averaged
over heads and pixels, and LE = −Σ_i ā^l_i log ā^l_i, read from the conditional branch on x_T at the first timestep.
Sign: the score is +LE, higher = more likely memorized, as in Ren et al.'s detection code (memorized prompts are the
positive class of its AUC over +LE) and Jeon et al.'s re-run. In Ren et al.'s account, ordinary prompts put almost all
attention on the beginning token, while a memorized prompt pulls attention onto its trigger tokens, spreading it over
more tokens.
Ren et al. read one layer of Stable Diffusion v1.4 (the 4th of 16 cross-attention layers in execution order,
`layers=(3,)`); by default all layers are averaged, which suits a tiny model with only a few layers.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from copyscope.detection.attention import CrossAttentionRecorder
from copyscope.detection.common import (
    DetectorScores,
    prompt_batches,
    sampling_timesteps,
    seconds_since,
    to_numpy,
)
from copyscope.models.text_to_image import TextToImage

METHOD = "Ren et al. attention entropy"


def attention_entropy(distributions: torch.Tensor) -> torch.Tensor:
    """−Σ p log p over the last axis, with 0 log 0 = 0."""
    return -torch.special.xlogy(distributions, distributions).sum(dim=-1)


def _mean_over_heads_and_pixels(probabilities: torch.Tensor) -> torch.Tensor:
    return probabilities.mean(dim=(1, 2), dtype=torch.promote_types(probabilities.dtype, torch.float32))


@torch.no_grad()
def ren_entropy_scores(model: TextToImage, prompts: Sequence[str], generations: int = 1, steps: int = 50,
                       seed: int = 0, layers: Sequence[int] | None = None, batch_size: int = 16,
                       progress: bool = True) -> DetectorScores:
    """LE at the first sampling step, averaged over the chosen cross-attention layers (indices in execution order,
    all if None) and over generations. Only the conditional branch is evaluated: one UNet evaluation per generation.
    """
    start = time.perf_counter()
    first = int(sampling_timesteps(model, steps)[0])
    per_generation, names = [], []
    with CrossAttentionRecorder(model.unet, _mean_over_heads_and_pixels) as recorder:
        for batch in prompt_batches(model, prompts, generations, seed, batch_size, desc=METHOD, progress=progress):
            model.eps(batch.noise, first, batch.cond)
            names = list(recorder.records)
            chosen = _chosen_layers(names, layers)
            entropy = attention_entropy(torch.stack([recorder.records[names[i]] for i in chosen]))  # (layers, bG)
            per_generation.append(batch.per_prompt(entropy.mean(dim=0)))
    per_generation = to_numpy(torch.cat(per_generation))
    return DetectorScores(
        METHOD, per_generation.mean(axis=1), steps=1, generations=generations,
        unet_evals_per_prompt=float(generations), seconds=seconds_since(start, model.device),
        details={"per_generation": per_generation, "layers": [names[i] for i in _chosen_layers(names, layers)]},
    )


def _chosen_layers(names: list[str], layers: Sequence[int] | None) -> list[int]:
    if layers is None:
        return list(range(len(names)))
    if len(layers) == 0 or not all(-len(names) <= i < len(names) for i in layers):
        raise ValueError(f"layers must be indices into the {len(names)} cross-attention layers {names}, got {layers}")
    return list(layers)
