"""Classifier-free guidance only after a transition point, Jain et al. 2025 ("Classifier-Free Guidance inside the
Attraction Basin May Cause Memorization").

Before the transition the step uses `scale_before` (default 0: ε_u alone, the conditional prediction unused — the
official static command `--guidance_scale 0.0` and Han et al.'s reading of it; the official dynamic script used 1,
i.e. ε_c alone, and negative values give the paper's "opposite guidance"); from the transition on, the usual scale.
Static: the transition is at a fixed timestep (guidance from t ≤ `transition_t`, default 500). Dynamic: per
sample, at the step after the first local minimum of ‖ε_c − ε_u‖ along the trajectory, found as the official code
does (the magnitude rises after having fallen: m[i-2] > m[i-1] < m[i]).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from copyscope import conditional_noise
from copyscope.sampling import Guidance


@dataclass(frozen=True)
class StaticTransition:
    """Guidance `scale_before` while t > `transition_t`, the usual scale after."""

    transition_t: int = 500
    scale_before: float = 0.0

    def schedule(self, scale: float) -> Guidance:
        def guidance(i: int, t: int, eps_u: torch.Tensor, eps_c: torch.Tensor) -> float:
            return self.scale_before if t > self.transition_t else scale

        return guidance


@dataclass(frozen=True)
class DynamicTransition:
    """Guidance `scale_before` until each sample passes its first local minimum of ‖ε_c − ε_u‖."""

    scale_before: float = 0.0

    def schedule(self, scale: float) -> Guidance:
        return _FirstMinimumSwitch(self.scale_before, scale)


class _FirstMinimumSwitch:
    """The per-step guidance of one sampling chain at a time; its state restarts at step 0 (each batch)."""

    def __init__(self, before: float, after: float):
        self.before, self.after = before, after
        self.previous: list[torch.Tensor] = []
        self.switched = torch.zeros(0, dtype=torch.bool)

    def __call__(self, i: int, t: int, eps_u: torch.Tensor, eps_c: torch.Tensor) -> torch.Tensor:
        magnitude = conditional_noise.magnitude(eps_u, eps_c)
        if i == 0:
            self.previous, self.switched = [], torch.zeros_like(magnitude, dtype=torch.bool)
        if len(self.previous) == 2:
            before_last, last = self.previous
            self.switched |= (before_last > last) & (magnitude > last)
        self.previous = [*self.previous[-1:], magnitude]
        return torch.where(self.switched, self.after, self.before).to(eps_u.dtype)
