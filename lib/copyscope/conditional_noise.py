"""The conditional-noise magnitude of Wen et al. 2024 (paper C), per sample, and where sampling starts.

‖ε(x_t, t, e_prompt) − ε(x_t, t, e_∅)‖₂ over all of a sample's elements: large when the prompt pulls the prediction
towards a memorized image. Detectors and mitigations all read it from here, per sample, never as a norm over the
batch.
"""
from __future__ import annotations

import torch

from copyscope.models.text_to_image import TextToImage


def magnitude(eps_u: torch.Tensor, eps_c: torch.Tensor) -> torch.Tensor:
    """‖ε_c − ε_u‖₂ of each sample, (N, ...) -> (N,), in float32 at least (half-precision sums of squares overflow).

    The argument order is that of `model.eps(...).chunk(2)` on an (uncond, cond) batch; float64 stays float64.
    """
    difference = (eps_c - eps_u).flatten(1)
    return difference.to(torch.promote_types(difference.dtype, torch.float32)).norm(dim=1)


def magnitude_at(model: TextToImage, x: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor,
                 uncond: torch.Tensor) -> torch.Tensor:
    """Per-sample magnitude (B,) from one UNet call on the stacked pair; differentiable in x and cond."""
    t2 = torch.cat([t, t]) if torch.is_tensor(t) and t.ndim == 1 else t
    return magnitude(*model.eps(torch.cat([x, x]), t2, torch.cat([uncond, cond])).chunk(2))


def first_sampling_timestep(model: TextToImage) -> int:
    """The timestep of the first DDIM step (the same for every step count with trailing spacing)."""
    scheduler = model.sampling_scheduler()
    scheduler.set_timesteps(1)
    return int(scheduler.timesteps[0])
