"""Initial-noise adjustment of Han et al. 2025 ("Adjusting Initial Noise to Mitigate Memorization", per-sample
method).

Before sampling, AdamW moves each starting noise x_T until its conditional-noise magnitude at the first timestep is
below `target`; sampling then runs from the adjusted x_T with ordinary guidance from the first step. The prompt is
left alone. What keeps x_T Gaussian-like is the paper's choice: AdamW's decoupled weight decay (0.01), which its
appendix C derives as the quadratic term of the χ log-density of ‖x_T‖; there is no other constraint. Defaults are
the paper's Stable Diffusion v1.4 settings (lr 0.01, target 0.9 of its sweep 0.7–1.5); the paper iterates until
the target is met, here at most `max_iters` times. Extra UNet passes per image: both predictions per iteration
(both change with x_T), each but the last pair followed by a backward pass.
"""
from __future__ import annotations

import torch

from copyscope.conditional_noise import magnitude_at
from copyscope.mitigation.descent import FirstStepDescent, descend_per_sample
from copyscope.models.text_to_image import TextToImage


class InitialNoiseAdjustment(FirstStepDescent):
    """Adjust each generation's x_T before sampling."""

    def __init__(self, target: float = 0.9, lr: float = 0.01, max_iters: int = 50, weight_decay: float = 0.01):
        super().__init__(target, lr, max_iters, weight_decay)

    def adjust(self, model: TextToImage, t: int, cond: torch.Tensor, uncond: torch.Tensor, x: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        def magnitude(rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            return magnitude_at(model, rows, t, cond[index], uncond[index])

        adjusted, evaluations = descend_per_sample(x, magnitude, self.descent)
        return cond, adjusted, 2 * evaluations, evaluations
