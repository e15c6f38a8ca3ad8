"""Jeon et al. (2025): memorized prompts sit in sharp regions of the conditional density, visible at the first step.

With scores s = −ε/σ_t (σ_t = sqrt(1 − ᾱ_t)), s_Δ = s_c − s_u and H_Δ = H_c − H_u its Jacobian (the difference of the
log-density Hessians), the score is ‖H_Δ s_Δ‖² at x_T and the first sampling timestep, squared as in the paper
(their code averages the unsquared norm over generations; the ranking is the same for one generation). H_Δ s_Δ is
one Jacobian-vector product of x ↦ s_Δ(x) along s_Δ, so the Hessian is never formed.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch.func import jvp
from torch.nn.attention import SDPBackend, sdpa_kernel

from copyscope.detection.common import (
    DetectorScores,
    prompt_batches,
    sampling_timesteps,
    seconds_since,
    to_numpy,
    upcast,
)
from copyscope.models.text_to_image import TextToImage

METHOD = "Jeon et al. sharpness"


def score_difference(model: TextToImage, x: torch.Tensor, t: int, cond: torch.Tensor,
                     uncond: torch.Tensor) -> torch.Tensor:
    """s_c(x) − s_u(x) = −(ε(x, e_c) − ε(x, e_u)) / σ_t, both branches in one UNet batch."""
    sigma = (1 - model.training_scheduler().alphas_cumprod[t]).sqrt().item()
    eps_u, eps_c = model.eps(torch.cat([x, x]), t, torch.cat([uncond, cond])).chunk(2)
    return -(eps_c - eps_u) / sigma


@torch.no_grad()
def hessian_score_product(model: TextToImage, x: torch.Tensor, t: int, cond: torch.Tensor,
                          uncond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(s_Δ(x), H_Δ(x) s_Δ(x)): a plain evaluation, then one forward-mode Jacobian-vector product."""
    def difference(point: torch.Tensor) -> torch.Tensor:
        return score_difference(model, point, t, cond, uncond)

    s_delta = difference(x)
    with sdpa_kernel(SDPBackend.MATH):  # the fused attention kernels have no forward-mode derivative
        _, product = jvp(difference, (x,), (s_delta,))
    return s_delta, product


def sharpness_scores(model: TextToImage, prompts: Sequence[str], generations: int = 1, steps: int = 50,
                     seed: int = 0, batch_size: int = 16, negative_prompt: str = "",
                     progress: bool = True) -> DetectorScores:
    """‖H_Δ s_Δ‖² at x_T and the first timestep of a `steps`-step schedule, averaged over generations.

    Cost per generation: 2 plain UNet evaluations (s_Δ) and 2 under the Jacobian-vector product.
    """
    start = time.perf_counter()
    first = int(sampling_timesteps(model, steps)[0])
    per_generation = []
    for batch in prompt_batches(model, prompts, generations, seed, batch_size, negative_prompt, METHOD, progress):
        _, product = hessian_score_product(model, batch.noise, first, batch.cond, batch.uncond)
        per_generation.append(batch.per_prompt(upcast(product).flatten(1).pow(2).sum(dim=1)))
    per_generation = to_numpy(torch.cat(per_generation))
    return DetectorScores(
        METHOD, per_generation.mean(axis=1), steps=1, generations=generations,
        unet_evals_per_prompt=4.0 * generations, seconds=seconds_since(start, model.device),
        details={"per_generation": per_generation},
    )
