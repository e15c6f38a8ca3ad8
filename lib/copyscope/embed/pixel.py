"""The pixel-space extractor: a resized, mean-centred, L2-normalised copy of the image itself."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class PixelExtractor:
    """Cosine similarity of raw pixels after resizing to `size` and removing each channel's mean."""

    def __init__(self, size: int = 16):
        self.size = size
        self.name = "pixel"
        self.preprocessing = {"resize": size, "interpolation": "area", "centre": "per-image channel mean"}

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """(N, size * size * 3) unit rows."""
        return F.normalize(self._centred(images).flatten(1), dim=1).numpy()

    def tokens(self, images: np.ndarray) -> np.ndarray:
        """The centred pixels as a token map (N, size * size, 3), one token per pixel in row-major order (not
        normalised), for split-product similarity: its chunks are horizontal bands of the image."""
        x = self._centred(images)
        return x.permute(0, 2, 3, 1).reshape(len(x), self.size * self.size, 3).numpy()

    def _centred(self, images: np.ndarray) -> torch.Tensor:
        """(N, 3, size, size) in [0, 1], resized by area averaging, each image's channel means removed."""
        x = torch.as_tensor(np.asarray(images)).permute(0, 3, 1, 2).float() / 255
        x = F.interpolate(x, size=(self.size, self.size), mode="area")
        return x - x.mean(dim=(2, 3), keepdim=True)
