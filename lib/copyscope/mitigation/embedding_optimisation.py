"""Inference-time prompt-embedding optimisation of Wen et al. 2024 (paper C).

At the first sampling step, AdamW (lr 0.05, at most 10 iterations) moves each prompt's text-encoder output until
its conditional-noise magnitude at x_T is below `target` (3 in the official command); sampling then starts again
from the same x_T with the optimised embedding. The target is per image (see `descent`), and the first position
(the start token, whose output no prompt can change) stays fixed, as in the official code. Extra UNet passes per
image: one unconditional prediction (x_T and the empty prompt do not change, so it is cached) and one conditional
prediction per iteration, each but the last followed by a backward pass.
"""
from __future__ import annotations

import torch

from copyscope import conditional_noise
from copyscope.mitigation.descent import FirstStepDescent, descend_per_sample
from copyscope.models.text_to_image import TextToImage


class EmbeddingOptimisation(FirstStepDescent):
    """Optimise the conditional embedding per image before sampling."""

    def __init__(self, target: float = 3.0, lr: float = 0.05, max_iters: int = 10, weight_decay: float = 0.01):
        super().__init__(target, lr, max_iters, weight_decay)

    def adjust(self, model: TextToImage, t: int, cond: torch.Tensor, uncond: torch.Tensor, x: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            eps_u = model.eps(x, t, uncond)

        def magnitude(rows: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            return conditional_noise.magnitude(eps_u[index], model.eps(x[index], t, rows))

        trainable = torch.ones(cond.shape[1:], dtype=torch.bool, device=cond.device)
        trainable[0] = False
        optimised, evaluations = descend_per_sample(cond, magnitude, self.descent, trainable)
        return optimised, x, 1 + evaluations, evaluations
