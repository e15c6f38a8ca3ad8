"""Chen et al. (2025), "Bright Ending": end-token attention marks the memorized region and weights the magnitude.

Following Chen et al.'s code: the mask m is the conditional branch's cross-attention to the end token (the first
<|endoftext|>, right after the prompt) at the final sampling step, averaged over heads and over the cross-attention
layers of the first down block that has them (in Stable Diffusion v1 the two 64 x 64 layers), resized to the latent
grid. The score is BE = mean over all steps of ‖(ε_c − ε_u) ∘ m‖₂ / mean(m) (m broadcast over channels), averaged
over generations. Unlike Chen et al., who sample twice (once for the mask, once for the magnitudes), one pass keeps
each step's per-pixel squared difference and applies the mask at the end: the same number, half the UNet cost.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from copyscope.detection.attention import CrossAttentionRecorder, cross_attention_layers
from copyscope.detection.common import DetectorScores, prompt_batches, seconds_since, to_numpy, upcast
from copyscope.models.text_to_image import TextToImage
from copyscope.sampling import denoise

METHOD = "Chen et al. bright ending"


def end_token_positions(model: TextToImage, prompts: Sequence[str]) -> torch.Tensor:
    """Index of each prompt's first end token (the one right after the prompt; padding repeats it)."""
    ids = model.tokenize(list(prompts))
    return (ids == model.tokenizer.eos_token_id).int().argmax(dim=1)


def mask_layers(model: TextToImage) -> list[str]:
    """The cross-attention layers of the first (highest-resolution) down block that has any."""
    down = [name for name in cross_attention_layers(model.unet) if name.startswith("down_blocks.")]
    if not down:
        raise ValueError("this UNet has no cross-attention in its down blocks: no bright-ending mask")
    first_block = ".".join(down[0].split(".")[:2])
    return [name for name in down if name.startswith(first_block + ".")]


def masked_magnitude(channel_energy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """‖d ∘ m‖₂ / mean(m) from the per-pixel channel sums of d² (..., N, H, W) and masks m (N, H, W)."""
    return (channel_energy * mask ** 2).sum(dim=(-2, -1)).sqrt() / mask.mean(dim=(-2, -1))


@torch.no_grad()
def bright_ending_scores(model: TextToImage, prompts: Sequence[str], generations: int = 4, steps: int = 50,
                         guidance: float = 7.5, seed: int = 0, batch_size: int = 16, negative_prompt: str = "",
                         progress: bool = True, keep_images: bool = False) -> DetectorScores:
    """BE over a full guided sampling run of every generation; with `keep_images`, the final images (uint8,
    generations of a prompt consecutive: what `generate` draws with the same seed) are in details["images"]."""
    start = time.perf_counter()
    layers, latent_size = mask_layers(model), model.latent_shape[1:]
    per_generation, masks, images = [], [], []
    for batch in prompt_batches(model, prompts, generations, seed, batch_size, negative_prompt, METHOD, progress):
        end = end_token_positions(model, batch.prompts).repeat_interleave(generations)
        energies = []

        def end_token_map(probabilities: torch.Tensor) -> torch.Tensor:
            conditional = upcast(probabilities[len(probabilities) // 2:].mean(dim=1))  # (bG, pixels, tokens)
            return conditional[torch.arange(len(end)), :, end]

        with CrossAttentionRecorder(model.unet, end_token_map, layers, active=steps == 1) as recorder:
            def on_step(i: int, t: int, x: torch.Tensor, eps_u: torch.Tensor, eps_c: torch.Tensor) -> None:
                energies.append((upcast(eps_c - eps_u) ** 2).sum(dim=1))
                recorder.active = i == steps - 2  # record during the final step's UNet call

            x = denoise(model, batch.noise, batch.cond, batch.uncond, steps, guidance, on_step)
            mask = _latent_mask(torch.stack(list(recorder.records.values())).mean(dim=0), latent_size)
        per_generation.append(batch.per_prompt(masked_magnitude(torch.stack(energies), mask).mean(dim=0)))
        masks.append(batch.per_prompt(mask))
        if keep_images:
            images.append(model.to_images(x))
    per_generation = to_numpy(torch.cat(per_generation))
    kept = {"images": np.concatenate(images)} if keep_images else {}
    return DetectorScores(
        METHOD, per_generation.mean(axis=1), steps=steps, generations=generations,
        unet_evals_per_prompt=2.0 * steps * generations, seconds=seconds_since(start, model.device),
        details={"per_generation": per_generation, "masks": to_numpy(torch.cat(masks)).astype("float32"),
                 "mask_layers": layers, **kept},
    )


def _latent_mask(end_attention: torch.Tensor, latent_size: tuple[int, int]) -> torch.Tensor:
    """(N, pixels) attention of a square feature map, resized to the latent grid: (N, H, W)."""
    side = round(end_attention.shape[1] ** 0.5)
    square = end_attention.reshape(len(end_attention), 1, side, side)
    return F.interpolate(square, size=latent_size, mode="bilinear", align_corners=False)[:, 0]
