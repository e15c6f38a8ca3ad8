"""Batched DDIM sampling with classifier-free guidance.

Initial noise depends only on (seed, generation index), so results do not change with the batch size. The loop
exposes the two noise predictions of every step to a callback (detectors read them) and takes the guidance scale as
a number or a per-step function (guidance schedules are a mitigation).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from copyscope.models.text_to_image import TextToImage

# guidance(step index, timestep, eps_uncond, eps_cond) -> scale (a number or a per-sample tensor)
Guidance = float | Callable[[int, int, torch.Tensor, torch.Tensor], float | torch.Tensor]
# on_step(step index, timestep, x_t, eps_uncond, eps_cond)
StepCallback = Callable[[int, int, torch.Tensor, torch.Tensor, torch.Tensor], None]
# prepare(model, prompts, cond, uncond, x_T) -> (cond, uncond, x_T): an inference-time intervention on one batch
Prepare = Callable[[TextToImage, list[str], torch.Tensor, torch.Tensor, torch.Tensor],
                   tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def initial_noise(model: TextToImage, n: int, seed: int) -> torch.Tensor:
    """x_T for n generations, drawn on the CPU so every device gives the same starting points."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((n, *model.latent_shape), generator=generator).to(model.device)


@torch.no_grad()
def denoise(
    model: TextToImage,
    x: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor,
    steps: int,
    guidance: Guidance = 7.5,
    on_step: StepCallback | None = None,
    until: int | None = None,
) -> torch.Tensor:
    """Run the DDIM chain from x_T with text embeddings `cond` (and `uncond` for guidance) to x_0.

    With `until`, stop after that many steps and return the partly denoised x (detectors need only the first few).
    When `cond` equals `uncond` (an unconditional model's empty prompts), one UNet pass per step gives both.
    """
    scheduler = model.sampling_scheduler()
    scheduler.set_timesteps(steps, device=x.device)
    unconditional = torch.equal(cond, uncond)
    for i, t in enumerate(scheduler.timesteps[:until]):
        if unconditional:
            eps_u = eps_c = model.eps(x, t, cond)
        else:
            eps_u, eps_c = model.eps(torch.cat([x, x]), t, torch.cat([uncond, cond])).chunk(2)
        if on_step is not None:
            on_step(i, int(t), x, eps_u, eps_c)
        scale = guidance(i, int(t), eps_u, eps_c) if callable(guidance) else guidance
        if torch.is_tensor(scale) and scale.ndim == 1:
            scale = scale[:, None, None, None]
        x = scheduler.step(eps_u + scale * (eps_c - eps_u), t, x).prev_sample
    return x


@torch.no_grad()
def generate(
    model: TextToImage,
    prompts: list[str],
    seed: int,
    steps: int = 50,
    guidance: Guidance = 7.5,
    batch_size: int = 256,
    negative_prompt: str = "",
    progress: bool = True,
    prepare: Prepare | None = None,
    on_step: StepCallback | None = None,
) -> np.ndarray:
    """One image per prompt (repeat prompts for several), as uint8 (N, H, W, 3).

    `prepare` may change each batch's embeddings and starting noise before the chain runs (inference-time
    mitigations); `guidance` may be a per-step function; `on_step` sees every step's noise predictions.
    """
    noise = initial_noise(model, len(prompts), seed)
    uncond_one = model.encode([negative_prompt])
    out = []
    batches = range(0, len(prompts), batch_size)
    for start in tqdm(batches, desc="generate", disable=not progress, mininterval=5):
        batch = prompts[start:start + batch_size]
        uncond, x = uncond_one.expand(len(batch), -1, -1), noise[start:start + len(batch)]
        cond = uncond if all(p == negative_prompt for p in batch) else model.encode(batch)
        if prepare is not None:
            with torch.enable_grad():
                cond, uncond, x = prepare(model, batch, cond, uncond, x)
        x = denoise(model, x, cond.detach(), uncond.detach(), steps, guidance, on_step)
        out.append(model.to_images(x))
    return np.concatenate(out)
