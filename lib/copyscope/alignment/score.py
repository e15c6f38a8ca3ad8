"""CLIP score (paper B): the cosine of L2-normalised image and caption embeddings of an open_clip model, per pair.

Scores are plain cosines in [-1, 1] (paper B's scale; CLIPScore-style reports multiply by 100, or by 2.5 after
clipping at 0, which callers can do themselves).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from copyscope.embed.base import check_images


def check_captions(captions: Sequence[str]) -> list[str]:
    """The captions as a non-empty list of strings, or a ValueError naming what is wrong."""
    if isinstance(captions, str):
        raise ValueError("captions must be a list of strings, got a single string")
    captions = list(captions)
    if not captions:
        raise ValueError("no captions to score")
    bad = [c for c in captions if not isinstance(c, str)]
    if bad:
        raise ValueError(f"captions must be strings, got {type(bad[0]).__name__}")
    return captions


class ClipScorer:
    """Batched, no-grad embedding and scoring with an open_clip model (`encode_image`, `encode_text`).

    Subclasses say how uint8 images become the model's input (`prepare_images`) and how captions become token ids
    (`tokenize`). The model is put in eval mode and used on the device its parameters live on.
    """

    def __init__(self, model: torch.nn.Module, batch_size: int = 256, progress: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.model = model.eval()
        self.batch_size = batch_size
        self.progress = progress

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype (fp16 or bf16 for half-precision checkpoints), which image inputs must match."""
        return next(self.model.parameters()).dtype

    def prepare_images(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (B, H, W, 3) -> the vision tower's float input (B, 3, S, S) on `self.device`."""
        raise NotImplementedError

    def tokenize(self, captions: list[str]) -> torch.Tensor:
        """Captions -> token ids (B, L) on `self.device`."""
        raise NotImplementedError

    def embed_images(self, images) -> np.ndarray:
        """(N, D) float32 image embeddings of unit length."""
        images = check_images(images)
        return self._embed(images, len(images), lambda b: self.model.encode_image(self.prepare_images(b)))

    def embed_captions(self, captions: Sequence[str]) -> np.ndarray:
        """(N, D) float32 caption embeddings of unit length."""
        captions = check_captions(captions)
        return self._embed(captions, len(captions), lambda b: self.model.encode_text(self.tokenize(b)))

    def score(self, images, captions: Sequence[str]) -> np.ndarray:
        """(N,) cosine of image i and caption i, in [-1, 1]."""
        images, captions = check_images(images), check_captions(captions)
        if len(images) != len(captions):
            raise ValueError(f"{len(images)} images but {len(captions)} captions: scores need one caption per image")
        cosine = (self.embed_images(images) * self.embed_captions(captions)).sum(axis=1)
        return np.clip(cosine, -1.0, 1.0)

    @torch.inference_mode()
    def _embed(self, items, n: int, encode: Callable) -> np.ndarray:
        starts = range(0, n, self.batch_size)
        rows = [F.normalize(encode(items[i:i + self.batch_size]).float(), dim=-1).cpu()
                for i in tqdm(starts, desc="clip score", disable=not self.progress or len(starts) < 2)]
        return torch.cat(rows).numpy()


class PretrainedClipScore(ClipScorer):
    """CLIP score with a downloaded open_clip model and the `preprocess` (PIL image -> tensor) and `tokenizer`
    (list of captions -> ids) that come with it, e.g. from `copyscope.embed.online.load_open_clip`."""

    def __init__(self, model: torch.nn.Module, preprocess: Callable[[Image.Image], torch.Tensor],
                 tokenizer: Callable[[list[str]], torch.Tensor], batch_size: int = 256, progress: bool = False):
        super().__init__(model, batch_size, progress)
        self.preprocess = preprocess
        self.tokenizer = tokenizer

    def prepare_images(self, images: np.ndarray) -> torch.Tensor:
        pixels = torch.stack([self.preprocess(Image.fromarray(image)) for image in images])
        return pixels.to(self.device, self.dtype)

    def tokenize(self, captions: list[str]) -> torch.Tensor:
        return self.tokenizer(captions).to(self.device)
