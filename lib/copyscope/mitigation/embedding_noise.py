"""Gaussian noise on the text-encoder output, GN of Somepalli et al. 2023b (paper B).

Training: e + λ·N(0, I) on every row at every step (the `embeddings` hook), as the official code does; this also
noises the rows of captions dropped for classifier-free guidance, whose caption text stays empty. Inference: the
same noise on the conditional branch only; the unconditional embedding of guidance is left clean (the official
inference script noised the output of the pipeline's `_encode_prompt`, which holds both branches).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from copyscope.models.text_to_image import TextToImage


@dataclass(frozen=True)
class EmbeddingNoise:
    """The training hook: add `scale`·N(0, I) to the text embeddings, drawn from the step's generator."""

    scale: float = 0.1

    def __post_init__(self) -> None:
        if self.scale < 0:
            raise ValueError(f"EmbeddingNoise: scale must be >= 0, got {self.scale}")

    def __call__(self, embeddings: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        noise = torch.randn(embeddings.shape, generator=generator, device=embeddings.device, dtype=embeddings.dtype)
        return embeddings + self.scale * noise


@dataclass(frozen=True)
class PromptEmbeddingNoise:
    """The inference `prepare` hook: add `scale`·N(0, I) to the conditional embedding only.

    Each generation's noise is seeded by (`seed`, a digest of its own x_T), so it does not depend on the batch size
    or on which prompts share the batch.
    """

    scale: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.scale < 0:
            raise ValueError(f"PromptEmbeddingNoise: scale must be >= 0, got {self.scale}")

    def __call__(self, model: TextToImage, prompts: list[str], cond: torch.Tensor, uncond: torch.Tensor,
                 x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        noise = torch.stack([
            torch.randn(cond.shape[1:], generator=torch.Generator().manual_seed(self._row_seed(x_T)))
            for x_T in x
        ]).to(device=cond.device, dtype=cond.dtype)
        return cond + self.scale * noise, uncond, x

    def _row_seed(self, x_T: torch.Tensor) -> int:
        digest = hashlib.blake2b(x_T.detach().cpu().numpy().tobytes(), digest_size=8).digest()
        return (self.seed * 1_000_003 + int.from_bytes(digest, "little")) % 2**63
