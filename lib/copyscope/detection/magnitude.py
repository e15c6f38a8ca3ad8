"""Wen et al. (2024): the magnitude of the text-conditional noise prediction detects memorized prompts.

d = mean over generations and over the first k sampling steps of ‖ε(x_t, e_prompt) − ε(x_t, e_∅)‖₂, read on the
ordinary classifier-free-guidance DDIM path from x_T. One sampling pass (`magnitude_trajectory`) serves every k up
to the steps it ran; `wen_scores` reduces it to one variant and charges only that variant's cost.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from copyscope import conditional_noise
from copyscope.detection.common import (
    DetectorScores,
    prompt_batches,
    seconds_since,
    to_numpy,
)
from copyscope.models.text_to_image import TextToImage
from copyscope.sampling import denoise

METHOD = "Wen et al. magnitude"


@dataclass
class MagnitudeTrajectory:
    """‖ε_c − ε_u‖₂ at each sampling step read, for every prompt and generation."""

    magnitudes: np.ndarray  # (prompts, generations, steps read)
    timesteps: np.ndarray  # (steps read,)
    step_seconds: np.ndarray  # (steps read,): wall-clock until that step's prediction, all prompts together
    steps: int  # length of the sampling schedule

    @property
    def per_step(self) -> np.ndarray:
        """Mean over generations: (prompts, steps read), the curve of a magnitude-per-step plot."""
        return self.magnitudes.mean(axis=1)


def magnitude_trajectory(model: TextToImage, prompts: Sequence[str], steps: int = 50, generations: int = 4,
                         seed: int = 0, guidance: float = 7.5, until: int | None = None, batch_size: int = 16,
                         negative_prompt: str = "", progress: bool = True) -> MagnitudeTrajectory:
    """Per-step magnitudes along the guided DDIM path, stopping after `until` steps (all `steps` if None)."""
    reads = steps if until is None else until
    if not 1 <= reads <= steps:
        raise ValueError(f"need 1 <= until <= steps, got until={until}, steps={steps}")
    start = time.perf_counter()
    magnitudes, sampling_seconds = [], np.zeros(reads)
    timesteps = np.zeros(reads, dtype=np.int64)
    for batch in prompt_batches(model, prompts, generations, seed, batch_size, negative_prompt, METHOD, progress):
        batch_start, norms = time.perf_counter(), []

        def on_step(i: int, t: int, x: torch.Tensor, eps_u: torch.Tensor, eps_c: torch.Tensor) -> None:
            norms.append(to_numpy(conditional_noise.magnitude(eps_u, eps_c)))  # the copy to CPU also syncs the GPU
            sampling_seconds[i] += time.perf_counter() - batch_start
            timesteps[i] = t

        denoise(model, batch.noise, batch.cond, batch.uncond, steps, guidance, on_step, until)
        magnitudes.append(np.stack(norms, axis=-1).reshape(len(batch.prompts), generations, reads))
    overhead = seconds_since(start, model.device) - sampling_seconds[-1]  # encoding, noise, the last DDIM update
    return MagnitudeTrajectory(np.concatenate(magnitudes), timesteps, sampling_seconds + overhead, steps)


def wen_scores(trajectory: MagnitudeTrajectory, first_steps: int | None = None) -> DetectorScores:
    """d over the first `first_steps` steps (all steps read if None), costed as if only those steps had run."""
    reads = trajectory.magnitudes.shape[2]
    k = reads if first_steps is None else first_steps
    if not 1 <= k <= reads:
        raise ValueError(f"first_steps must lie in [1, {reads}] (the steps this trajectory read), got {first_steps}")
    per_generation = trajectory.magnitudes[:, :, :k].mean(axis=2)
    generations = trajectory.magnitudes.shape[1]
    return DetectorScores(
        METHOD, per_generation.mean(axis=1), steps=k, generations=generations,
        unet_evals_per_prompt=2.0 * k * generations, seconds=float(trajectory.step_seconds[k - 1]),
        details={"per_generation": per_generation, "trajectory": trajectory.per_step[:, :k]},
    )


def wen_magnitude(model: TextToImage, prompts: Sequence[str], first_steps: int = 1, steps: int = 50,
                  generations: int = 4, seed: int = 0, guidance: float = 7.5, batch_size: int = 16,
                  negative_prompt: str = "", progress: bool = True) -> DetectorScores:
    """Wen et al.'s d from the first `first_steps` of a `steps`-step schedule, running only those steps."""
    trajectory = magnitude_trajectory(model, prompts, steps, generations, seed, guidance, first_steps, batch_size,
                                      negative_prompt, progress)
    return wen_scores(trajectory, first_steps)


def magnitude_at_timestep(model: TextToImage, prompts: Sequence[str], timestep: int, generations: int = 1,
                          seed: int = 0, batch_size: int = 16, negative_prompt: str = "", progress: bool = True
                          ) -> DetectorScores:
    """d from one read at x_T and a given timestep: the official code's first step (DDIM 50 with `leading`
    spacing and offset 1 reads t = 981; copyscope's `trailing` spacing reads t = 999)."""
    start, scores = time.perf_counter(), []
    for batch in prompt_batches(model, prompts, generations, seed, batch_size, negative_prompt, METHOD, progress):
        with torch.no_grad():
            norms = conditional_noise.magnitude_at(model, batch.noise, timestep, batch.cond, batch.uncond)
        scores.append(to_numpy(batch.per_prompt(norms).mean(dim=1)))
    return DetectorScores(f"{METHOD} at t={timestep}", np.concatenate(scores), steps=1, generations=generations,
                          unet_evals_per_prompt=2.0 * generations, seconds=seconds_since(start, model.device))
