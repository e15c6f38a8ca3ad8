"""What every detector shares: the result type, prompt batches with seeded starting noise, and timing.

Cost convention: `unet_evals_per_prompt` counts batch elements pushed through the UNet per prompt (a classifier-free
guidance step on one generation is 2; a Jacobian-vector product through one branch counts as 1 although forward-mode
differentiation costs about 2-3 plain evaluations, which `seconds` shows).
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from copyscope.models.text_to_image import TextToImage
from copyscope.sampling import initial_noise


@dataclass
class DetectorScores:
    """One score per prompt (higher = more likely memorized) and what computing them cost."""

    method: str
    scores: np.ndarray
    steps: int  # sampling steps the score reads (1 = the first step only)
    generations: int  # starting noises per prompt
    unet_evals_per_prompt: float
    seconds: float  # wall-clock for all prompts
    details: dict = field(default_factory=dict)  # per-generation values and method-specific arrays

    @property
    def seconds_per_prompt(self) -> float:
        return self.seconds / len(self.scores)


@dataclass
class PromptBatch:
    """A batch of prompts with their text embeddings and the starting noise of each of their generations."""

    prompts: list[str]
    embeddings: torch.Tensor  # (b, L, D): one per prompt
    negative: torch.Tensor  # (1, L, D): the negative (usually empty) prompt
    noise: torch.Tensor  # (b * generations, C, H, W): each prompt's generations are consecutive
    generations: int

    @property
    def cond(self) -> torch.Tensor:
        """Prompt embeddings repeated for each generation: (b * generations, L, D)."""
        return self.embeddings.repeat_interleave(self.generations, dim=0)

    @property
    def uncond(self) -> torch.Tensor:
        return self.negative.expand(len(self.noise), -1, -1)

    def per_prompt(self, values: torch.Tensor) -> torch.Tensor:
        """Per-generation values (b * generations, ...) regrouped as (b, generations, ...)."""
        return values.reshape(len(self.prompts), self.generations, *values.shape[1:])


def check_prompts(prompts: Sequence[str], generations: int, batch_size: int) -> None:
    """Reject the inputs every detector would otherwise fail on deep inside the UNet."""
    if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
        raise TypeError("prompts must be a list of strings (wrap a single prompt in a list)")
    if len(prompts) == 0:
        raise ValueError("no prompts to score")
    if generations < 1:
        raise ValueError(f"generations must be at least 1, got {generations}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")


def prompt_batches(model: TextToImage, prompts: Sequence[str], generations: int, seed: int, batch_size: int,
                   negative_prompt: str = "", desc: str = "detect", progress: bool = True) -> Iterator[PromptBatch]:
    """Batches of `batch_size` prompts; generation g of prompt p starts from noise index p * generations + g."""
    check_prompts(prompts, generations, batch_size)
    noise = initial_noise(model, len(prompts) * generations, seed)
    negative = _encode(model, [negative_prompt])
    for start in tqdm(range(0, len(prompts), batch_size), desc=desc, disable=not progress, mininterval=5):
        batch = list(prompts[start:start + batch_size])
        yield PromptBatch(batch, _encode(model, batch), negative,
                          noise[start * generations:(start + len(batch)) * generations], generations)


def _encode(model: TextToImage, prompts: list[str]) -> torch.Tensor:
    with torch.no_grad():  # not around the caller's code: a generator must not hold grad mode across its yields
        return model.encode(prompts)


def sampling_timesteps(model: TextToImage, steps: int) -> torch.Tensor:
    """The timesteps of the model's `steps`-step sampling schedule, first (noisiest) first."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    scheduler = model.sampling_scheduler()
    scheduler.set_timesteps(steps)
    return scheduler.timesteps


def upcast(values: torch.Tensor) -> torch.Tensor:
    """Half precision (Stable Diffusion in fp16) to float32 before reductions; float32 and float64 unchanged."""
    return values.to(torch.promote_types(values.dtype, torch.float32))


def seconds_since(start: float, device: torch.device) -> float:
    """Wall-clock seconds since `start` (a `time.perf_counter()` value), after queued GPU work has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def to_numpy(values: torch.Tensor) -> np.ndarray:
    return values.detach().double().cpu().numpy()
