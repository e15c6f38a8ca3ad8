"""Training-time filter of Wen et al. 2024 (paper C): leave out of the loss the samples whose prompt pulls hard.

For each sample, the conditional-noise magnitude ‖ε(x_t, e_p) − ε(x_t, e_∅)‖₂ at its own training timestep, with
no gradient; samples at or above the threshold are dropped (the official code keeps `magnitude < threshold`,
2 in its command). ε_c is the training step's own prediction, so the hook adds one UNet pass, on the empty prompt.
Dropped-caption rows have (nearly) zero magnitude and stay.

Absolute magnitudes depend on the model and resolution, so the threshold may instead be a multiple of the median
magnitude over the current batch and the `history` samples before it. That running window lives in this object:
a run resumed from a checkpoint starts it afresh (history = 0, the batch median alone, has no such state).
"""
from __future__ import annotations

from collections import deque

import torch

from copyscope.conditional_noise import magnitude
from copyscope.models.text_to_image import TextToImage


class MagnitudeFilter:
    """The `keep` hook: True for the samples to train on."""

    def __init__(self, threshold: float = 2.0, relative: bool = False, history: int = 1024):
        if threshold <= 0 or history < 0:
            raise ValueError(f"MagnitudeFilter: need threshold > 0 and history >= 0, got {threshold}, {history}")
        self.threshold, self.relative = threshold, relative
        self.recent: deque[float] = deque(maxlen=history)

    @torch.no_grad()
    def __call__(self, model: TextToImage, x_t: torch.Tensor, t: torch.Tensor, eps_cond: torch.Tensor
                 ) -> torch.Tensor:
        empty = model.encode([""]).expand(len(x_t), -1, -1)
        magnitudes = magnitude(model.eps(x_t, t, empty), eps_cond).float()
        return magnitudes < self.limit(magnitudes)

    def limit(self, magnitudes: torch.Tensor) -> float | torch.Tensor:
        """The threshold for this batch: absolute, or `threshold` × the running median."""
        if not self.relative:
            return self.threshold
        window = torch.cat([torch.tensor(list(self.recent), device=magnitudes.device), magnitudes])
        self.recent.extend(magnitudes.tolist())
        return self.threshold * window.median()
