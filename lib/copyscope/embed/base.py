"""What every network extractor shares: input checks, batching, no-grad inference and L2-normalised output.

An extractor is a callable `extractor(images) -> (N, D)` float32 rows of unit length, for uint8 images N×H×W×3,
with a `name` and a `preprocessing` dict stating exactly what happens to an image before the network. Extractors
with spatial or patch features also offer `tokens(images) -> (N, T, D)` for split-product similarity.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from copyscope.devices import pick_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_images(images) -> np.ndarray:
    """The images as a uint8 N×H×W×3 array, or a ValueError naming what is wrong."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be N×H×W×3, got shape {images.shape}")
    if len(images) == 0:
        raise ValueError("no images to embed")
    return images


@dataclass(frozen=True)
class ResizeNormalize:
    """Square resize (antialiased) to `size`, scale to [0, 1], then (x - mean) / std per channel."""

    size: int
    interpolation: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, H, W, 3) on any device -> float (B, 3, size, size) network input."""
        x = images.permute(0, 3, 1, 2).float() / 255
        if x.shape[-2:] != (self.size, self.size):
            x = TF.resize(x, [self.size, self.size], interpolation=InterpolationMode(self.interpolation),
                          antialias=True)
        return TF.normalize(x, list(self.mean), list(self.std))

    def describe(self) -> dict:
        return {"resize": [self.size, self.size], "crop": None, "interpolation": self.interpolation,
                "antialias": True, "scale": "1/255", "mean": list(self.mean), "std": list(self.std)}


class Extractor:
    """Base class: subclasses set `name`, `preprocessing` and `transform`, and implement `forward` (and optionally
    `forward_tokens`) on a preprocessed batch."""

    name: str
    preprocessing: dict
    transform: ResizeNormalize

    def __init__(self, device: str | torch.device | None = None, batch_size: int = 64, progress: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = torch.device(device) if device is not None else pick_device()
        self.batch_size = batch_size
        self.progress = progress

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        """A uint8 N×H×W×3 batch -> the network's input on `self.device`."""
        return self.transform(torch.from_numpy(images).to(self.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"the {self.name} extractor has no token features")

    def __call__(self, images) -> np.ndarray:
        """(N, D) float32 descriptors of unit length."""
        return self._run(images, lambda x: F.normalize(self.forward(x).float(), dim=-1))

    def tokens(self, images) -> np.ndarray:
        """(N, T, D) float32 patch or spatial features (not normalised) for split-product similarity."""
        return self._run(images, lambda x: self.forward_tokens(x).float())

    @torch.no_grad()
    def _run(self, images, network) -> np.ndarray:
        images = check_images(images)
        starts = range(0, len(images), self.batch_size)
        out = [network(self.prepare(images[i:i + self.batch_size])).cpu()
               for i in tqdm(starts, desc=self.name, disable=not self.progress or len(starts) < 2)]
        return torch.cat(out).numpy()
