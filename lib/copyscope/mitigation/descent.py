"""Per-sample AdamW descent on a magnitude, stopping each sample once it is below target.

Shared by the prompt-embedding optimisation of Wen et al. 2024 and the initial-noise adjustment of Han et al. 2025.
The loss is the sum of the still-active samples' magnitudes, so each sample's gradient is that of its own magnitude;
AdamW acts elementwise, and finished samples are restored after every step (no momentum or weight-decay drift), so
a sample's result does not depend on which other samples share its batch. The official prompt optimisation took the
norm over the whole batch instead, which made its target scale with the number of images.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from copyscope.conditional_noise import first_sampling_timestep, magnitude_at
from copyscope.models.text_to_image import TextToImage

# magnitude(rows of the current value, their row indices) -> per-row magnitudes, differentiable in the rows
Magnitude = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Descent:
    """AdamW settings: stop below `target`, after at most `max_iters` evaluations of the magnitude."""

    target: float
    lr: float
    max_iters: int
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        if self.target < 0 or self.lr <= 0 or self.max_iters < 1 or self.weight_decay < 0:
            raise ValueError(f"need target >= 0, lr > 0, max_iters >= 1 and weight_decay >= 0; got {self}")


def descend_per_sample(start: torch.Tensor, magnitude: Magnitude, settings: Descent,
                       trainable: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Minimise each row's magnitude until it falls below the target, evaluating it at most `max_iters` times.

    As in the papers, an iteration evaluates the magnitude, stops the rows already below target, and steps the
    others; the last step is not evaluated. `trainable` (broadcastable to one row) marks the elements that may
    change. The descent runs in float32 (AdamW is unreliable in half precision) and `magnitude` sees rows in the
    dtype of `start`. Returns the result, in that dtype, and how many times each row's magnitude was evaluated.
    """
    value = start.detach().float().clone().requires_grad_(True)
    optimizer = torch.optim.AdamW([value], lr=settings.lr, weight_decay=settings.weight_decay)
    active = torch.ones(len(start), dtype=torch.bool, device=start.device)
    evaluations = torch.zeros(len(start), dtype=torch.long, device=start.device)
    changeable = torch.ones_like(start[0], dtype=torch.bool) if trainable is None else trainable.bool()
    for _ in range(settings.max_iters):
        rows = active.nonzero().squeeze(1)
        current = magnitude(value[rows].to(start.dtype), rows)
        evaluations[rows] += 1
        above = current.detach() >= settings.target
        active[rows[~above]] = False
        if not active.any():
            break
        (value.grad,) = torch.autograd.grad(current[above].sum(), value)
        before = value.detach().clone()
        optimizer.step()
        with torch.no_grad():
            value.copy_(torch.where(active.view(-1, *[1] * (start.ndim - 1)) & changeable, value, before))
    return value.detach().to(start.dtype), evaluations


class FirstStepDescent:
    """A `sampling.generate` prepare hook that descends on the magnitude at the first sampling timestep.

    Subclasses say what moves (`adjust`). Per image so far: `unet_evaluations` (its extra UNet passes),
    `iterations` (how often its magnitude was evaluated by the descent) and the first-step magnitude before and
    after (`magnitude_before`, `magnitude_after`: measured apart, not counted as cost).
    """

    def __init__(self, target: float, lr: float, max_iters: int, weight_decay: float):
        self.descent = Descent(target, lr, max_iters, weight_decay)
        self.unet_evaluations: list[int] = []
        self.iterations: list[int] = []
        self.magnitude_before: list[float] = []
        self.magnitude_after: list[float] = []

    def __call__(self, model: TextToImage, prompts: list[str], cond: torch.Tensor, uncond: torch.Tensor,
                 x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = first_sampling_timestep(model)
        with torch.no_grad():
            self.magnitude_before += magnitude_at(model, x, t, cond, uncond).tolist()
        cond, x, passes, iterations = self.adjust(model, t, cond, uncond, x)
        with torch.no_grad():
            self.magnitude_after += magnitude_at(model, x, t, cond, uncond).tolist()
        self.unet_evaluations += passes.tolist()
        self.iterations += iterations.tolist()
        return cond, uncond, x

    def adjust(self, model: TextToImage, t: int, cond: torch.Tensor, uncond: torch.Tensor, x: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The new (cond, x), each image's extra UNet passes and its descent iterations."""
        raise NotImplementedError
