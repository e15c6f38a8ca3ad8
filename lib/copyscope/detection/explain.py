"""Wen et al. (2024): which tokens trigger memorization, and editing them.

A token's significance is ‖∂L/∂e_i‖₂, where e_i is the i-th text-encoder output embedding of the prompt and
L = mean over generations of ‖ε(x_T, e_prompt) − ε(x_T, e_∅)‖₂ at the first sampling timestep. The gradient is taken
with respect to the prompt's embeddings only; the empty prompt's embeddings are constants. (The official code
differentiates with respect to the wrong branch of the guidance batch; this follows the paper's definition.)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import CLIPTokenizer

from copyscope import conditional_noise
from copyscope.detection.common import prompt_batches, sampling_timesteps
from copyscope.models.text_to_image import TextToImage
from copyscope.models.tokenizer import word_tokens


@dataclass
class TokenSignificance:
    """One prompt's tokens from the beginning to the first end token, with their significance."""

    prompt: str
    token_ids: list[int]
    tokens: list[str]
    significance: np.ndarray
    magnitude: float  # L, the first-step magnitude being explained

    def top(self, k: int) -> list[int]:
        """Positions of the k most significant word tokens (the beginning and end tokens cannot be edited)."""
        words = np.arange(1, len(self.token_ids) - 1)
        return [int(i) for i in words[np.argsort(-self.significance[words], kind="stable")[:k]]]


def magnitude_and_gradient(model: TextToImage, embeddings: torch.Tensor, negative: torch.Tensor,
                           noise: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
    """L per prompt and ∂L/∂e for prompt embeddings (b, L, D), negative embeddings (1, L, D) and noise (b * G, ...)."""
    generations = len(noise) // len(embeddings)
    leaf = embeddings.detach().clone().requires_grad_(True)
    with torch.enable_grad():  # also under a caller's no_grad
        cond = leaf.repeat_interleave(generations, dim=0)
        uncond = negative.detach().expand_as(cond)
        eps_u, eps_c = model.eps(torch.cat([noise, noise]), t, torch.cat([uncond, cond])).chunk(2)
        magnitude = conditional_noise.magnitude(eps_u, eps_c).reshape(len(leaf), generations).mean(dim=1)
        (gradient,) = torch.autograd.grad(magnitude.sum(), leaf)  # prompts do not interact: one backward pass
    return magnitude.detach(), gradient


def token_significance(model: TextToImage, prompts: Sequence[str], generations: int = 4, steps: int = 50,
                       seed: int = 0, batch_size: int = 8, negative_prompt: str = "",
                       progress: bool = True) -> list[TokenSignificance]:
    """Per-token significance of each prompt at the first timestep of a `steps`-step schedule."""
    first = int(sampling_timesteps(model, steps)[0])
    results = []
    for batch in prompt_batches(model, prompts, generations, seed, batch_size, negative_prompt,
                                "token significance", progress):
        magnitude, gradient = magnitude_and_gradient(model, batch.embeddings, batch.negative, batch.noise, first)
        ids = model.tokenize(batch.prompts)
        for j, prompt in enumerate(batch.prompts):
            length = int((ids[j] == model.tokenizer.eos_token_id).int().argmax()) + 1  # through the first end token
            token_ids = ids[j, :length].tolist()
            results.append(TokenSignificance(
                prompt, token_ids, [model.tokenizer.decode([i]) for i in token_ids],
                gradient[j, :length].norm(dim=-1).double().cpu().numpy(), float(magnitude[j]),
            ))
    return results


def edit_prompt(tokenizer: CLIPTokenizer, significance: TokenSignificance, k: int = 1, mode: str = "drop",
                seed: int = 0) -> str:
    """The prompt with its k most significant tokens dropped, or replaced by random vocabulary words (seeded)."""
    if mode not in ("drop", "replace"):
        raise ValueError(f"mode must be 'drop' or 'replace', got {mode!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    top = set(significance.top(k))
    words = word_tokens()
    rng = np.random.default_rng(seed)
    edited = []
    for position, token_id in enumerate(significance.token_ids[1:-1], start=1):
        if position not in top:
            edited.append(token_id)
        elif mode == "replace":
            edited.append(tokenizer.convert_tokens_to_ids(words[rng.integers(len(words))] + "</w>"))
    return tokenizer.decode(edited)
