"""Asthana & Belagiannis (2025): memorization shows as a large guidance norm at t = T plus an anisotropic alignment.

Following their code (Stable Diffusion v1 setting): on x_T, the norm ‖ε_c − ε_u‖₂ at the first timestep, and the
cosine between ε_u and ε_c − ε_u over the channels of each latent pixel, averaged over pixels, with the UNet fed the
same x_T but a low-noise timestep label (the third-last of the sampling schedule). The score is
norm_weight · norm + cosine_weight · cosine, each averaged over generations; their weights are 1 and 2 for
Stable Diffusion v1 (1 and 0.1 for v2). Four UNet evaluations per generation; no sampling.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from copyscope import conditional_noise
from copyscope.detection.common import (
    DetectorScores,
    prompt_batches,
    sampling_timesteps,
    seconds_since,
    to_numpy,
    upcast,
)
from copyscope.models.text_to_image import TextToImage

METHOD = "Asthana & Belagiannis anisotropy"


def guidance_alignment(eps_uncond: torch.Tensor, eps_cond: torch.Tensor) -> torch.Tensor:
    """Per-pixel cosine over channels between ε_u and ε_c − ε_u, averaged over pixels: (N, C, H, W) -> (N,).

    Where ε_c = ε_u the cosine is taken as 0.
    """
    return F.cosine_similarity(upcast(eps_uncond), upcast(eps_cond - eps_uncond), dim=1).mean(dim=(1, 2))


@torch.no_grad()
def anisotropy_scores(model: TextToImage, prompts: Sequence[str], generations: int = 1, steps: int = 50,
                      seed: int = 0, norm_weight: float = 1.0, cosine_weight: float = 2.0, cosine_step: int = -3,
                      batch_size: int = 16, negative_prompt: str = "", progress: bool = True) -> DetectorScores:
    """norm_weight · ‖ε_c − ε_u‖ at the first timestep + cosine_weight · alignment at timesteps[cosine_step]."""
    start = time.perf_counter()
    timesteps = sampling_timesteps(model, steps)
    if not -steps <= cosine_step < steps:
        raise ValueError(f"cosine_step must index the {steps} sampling timesteps, got {cosine_step}")
    first, low = int(timesteps[0]), int(timesteps[cosine_step])
    norms, cosines = [], []
    for batch in prompt_batches(model, prompts, generations, seed, batch_size, negative_prompt, METHOD, progress):
        x, embeddings = torch.cat([batch.noise, batch.noise]), torch.cat([batch.uncond, batch.cond])
        norms.append(batch.per_prompt(conditional_noise.magnitude(*model.eps(x, first, embeddings).chunk(2))))
        cosines.append(batch.per_prompt(guidance_alignment(*model.eps(x, low, embeddings).chunk(2))))
    norm, cosine = to_numpy(torch.cat(norms)), to_numpy(torch.cat(cosines))
    return DetectorScores(
        METHOD, norm_weight * norm.mean(axis=1) + cosine_weight * cosine.mean(axis=1), steps=1,
        generations=generations, unet_evals_per_prompt=4.0 * generations, seconds=seconds_since(start, model.device),
        details={"norm": norm, "cosine": cosine, "timesteps": (first, low)},
    )
