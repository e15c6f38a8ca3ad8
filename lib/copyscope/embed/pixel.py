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
        x = torch.as_tensor(np.asarray(images)).permute(0, 3, 1, 2).float() / 255
        x = F.interpolate(x, size=(self.size, self.size), mode="area")
        x = x - x.mean(dim=(2, 3), keepdim=True)
        return F.normalize(x.flatten(1), dim=1).numpy()
