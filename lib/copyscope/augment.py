"""Batched image augmentations with per-image random parameters, for copy-detection training and synthetic copies.

torchvision's transforms draw one set of parameters per call, so a batch would share one crop, one colour change and
one blur. Here every image of a batch gets its own parameters, drawn from an explicit `torch.Generator` on the CPU
(so results are the same on every device), while the pixel work stays batched on the images' device. Each
operation matches torchvision.transforms.v2's definition for a single image (tests compare them); images are float
tensors (B, 3, H, W) in [0, 1], masks float tensors (B, 1, H, W).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF


def uniform(generator: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    """n draws from U(low, high), on the CPU."""
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64).float()


def coin(generator: torch.Generator, n: int, p: float) -> torch.Tensor:
    """n Bernoulli(p) draws as a bool tensor, on the CPU."""
    return torch.rand(n, generator=generator, dtype=torch.float64) < p


def _per_image(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return values.to(x.device, x.dtype).view(-1, 1, 1, 1)


def _blend(x: torch.Tensor, other: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    ratio = _per_image(ratio, x)
    return (ratio * x + (1 - ratio) * other).clamp(0, 1)


def adjust_brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), factor)


def adjust_contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = TF.rgb_to_grayscale(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean, factor)


def adjust_saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return _blend(x, TF.rgb_to_grayscale(x, num_output_channels=3), factor)


def adjust_hue(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate each image's hue by `shift` (a fraction of the colour circle, in [-0.5, 0.5])."""
    r, g, b = x.unbind(1)
    value, _ = x.max(dim=1)
    low, _ = x.min(dim=1)
    chroma = value - low
    safe = torch.where(chroma > 0, chroma, torch.ones_like(chroma))
    hue = torch.where(value == r, ((g - b) / safe) % 6,
                      torch.where(value == g, (b - r) / safe + 2, (r - g) / safe + 4))
    hue = torch.where(chroma > 0, hue / 6, torch.zeros_like(hue))
    saturation = torch.where(value > 0, chroma / torch.where(value > 0, value, torch.ones_like(value)),
                             torch.zeros_like(value))
    hue = (hue + shift.to(x.device, x.dtype).view(-1, 1, 1)) % 1.0
    return _hsv_to_rgb(hue, saturation, value)


def _hsv_to_rgb(hue: torch.Tensor, saturation: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    sector = torch.floor(hue * 6)
    fraction = hue * 6 - sector
    sector = sector.long() % 6
    p = value * (1 - saturation)
    q = value * (1 - saturation * fraction)
    t = value * (1 - saturation * (1 - fraction))
    choices = torch.stack([  # (6 sectors, 3 channels, B, H, W)
        torch.stack([value, t, p]), torch.stack([q, value, p]), torch.stack([p, value, t]),
        torch.stack([p, q, value]), torch.stack([t, p, value]), torch.stack([value, p, q]),
    ])
    index = sector.unsqueeze(0).unsqueeze(0).expand(1, 3, *sector.shape)
    return choices.gather(0, index)[0].permute(1, 0, 2, 3).clamp(0, 1)


def color_jitter(x: torch.Tensor, generator: torch.Generator, brightness: float, contrast: float,
                 saturation: float, hue: float, p: float = 1.0) -> torch.Tensor:
    """torchvision's ColorJitter applied with probability p, each image with its own factors.

    Factors are drawn from U(1 - s, 1 + s) (hue shift from U(-hue, hue)); the four adjustments run in one random
    order per call, as torchvision's does per image.
    """
    n = len(x)
    apply = _per_image(coin(generator, n, p), x).bool()
    factors = {
        "brightness": uniform(generator, n, max(0.0, 1 - brightness), 1 + brightness),
        "contrast": uniform(generator, n, max(0.0, 1 - contrast), 1 + contrast),
        "saturation": uniform(generator, n, max(0.0, 1 - saturation), 1 + saturation),
        "hue": uniform(generator, n, -hue, hue),
    }
    operations = {"brightness": adjust_brightness, "contrast": adjust_contrast,
                  "saturation": adjust_saturation, "hue": adjust_hue}
    names = list(operations)
    jittered = x
    for k in torch.randperm(4, generator=generator).tolist():
        jittered = operations[names[k]](jittered, factors[names[k]])
    return torch.where(apply, jittered, x)


def gaussian_blur(x: torch.Tensor, kernel_size: int, sigma: torch.Tensor) -> torch.Tensor:
    """Each image blurred with its own sigma (a separable kernel and reflect padding, as torchvision does)."""
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"the blur kernel size must be odd and positive, got {kernel_size}")
    b, c, h, w = x.shape
    half = (kernel_size - 1) / 2
    offsets = torch.linspace(-half, half, kernel_size, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma.to(x.device, x.dtype).view(-1, 1)) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (B*C, k)
    pad = kernel_size // 2
    y = F.pad(x.reshape(1, b * c, h, w), (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(y, kernel.view(b * c, 1, 1, kernel_size), groups=b * c)
    y = F.conv2d(y, kernel.view(b * c, 1, kernel_size, 1), groups=b * c)
    return y.view(b, c, h, w)


def random_gaussian_blur(x: torch.Tensor, generator: torch.Generator, kernel_size: int,
                         sigma: tuple[float, float], p: float = 1.0) -> torch.Tensor:
    """GaussianBlur(kernel_size, sigma range) applied with probability p."""
    apply = coin(generator, len(x), p)
    sigmas = uniform(generator, len(x), *sigma)
    return torch.where(_per_image(apply, x).bool(), gaussian_blur(x, kernel_size, sigmas), x)


def random_grayscale(x: torch.Tensor, generator: torch.Generator, p: float) -> torch.Tensor:
    apply = _per_image(coin(generator, len(x), p), x).bool()
    return torch.where(apply, TF.rgb_to_grayscale(x, num_output_channels=3), x)


def random_solarize(x: torch.Tensor, generator: torch.Generator, threshold: float, p: float) -> torch.Tensor:
    """Invert the pixels at or above `threshold` (a fraction of the range), with probability p per image."""
    apply = _per_image(coin(generator, len(x), p), x).bool()
    return torch.where(apply & (x >= threshold), 1 - x, x)


def random_autocontrast(x: torch.Tensor, generator: torch.Generator, p: float) -> torch.Tensor:
    """Stretch each channel to the full range, with probability p per image."""
    apply = _per_image(coin(generator, len(x), p), x).bool()
    return torch.where(apply, TF.autocontrast(x), x)


@dataclass
class Geometry:
    """Per-image affine maps from output to input coordinates (normalised to [-1, 1]).

    `extent_x`/`extent_y`: the fraction of the input's width/height that the output shows (< 1 zooms into a crop,
    > 1 shrinks the content); `angle` in degrees; `centre_x`/`centre_y`: the input point at the output's centre.
    """

    extent_x: torch.Tensor
    extent_y: torch.Tensor
    angle: torch.Tensor
    centre_x: torch.Tensor
    centre_y: torch.Tensor
    flip_h: torch.Tensor
    flip_v: torch.Tensor

    def matrices(self) -> torch.Tensor:
        """(B, 2, 3) matrices for `torch.nn.functional.affine_grid`."""
        radians = self.angle * math.pi / 180
        cos, sin = torch.cos(radians), torch.sin(radians)
        sx = self.extent_x * torch.where(self.flip_h, -1.0, 1.0)
        sy = self.extent_y * torch.where(self.flip_v, -1.0, 1.0)
        return torch.stack([torch.stack([cos * sx, -sin * sy, self.centre_x], dim=1),
                            torch.stack([sin * sx, cos * sy, self.centre_y], dim=1)], dim=1)


def warp(x: torch.Tensor, geometry: Geometry, padding: str = "zeros", mode: str = "bilinear") -> torch.Tensor:
    """Resample square images (or masks) through per-image affine maps."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"warp expects square images, got {tuple(x.shape[-2:])}")
    theta = geometry.matrices().to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding, align_corners=False)


def random_resized_crops(generator: torch.Generator, n: int, scale: tuple[float, float], max_angle: float,
                         p_hflip: float, p_vflip: float,
                         ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Geometry:
    """RandomResizedCrop-like views (area fraction in `scale`, aspect ratio in `ratio`, the crop inside the image),
    rotated by U(-max_angle, max_angle) degrees and flipped."""
    area = uniform(generator, n, *scale)
    aspect = torch.exp(uniform(generator, n, math.log(ratio[0]), math.log(ratio[1])))
    width, height = (area * aspect).sqrt().clamp(max=1), (area / aspect).sqrt().clamp(max=1)
    centre_x = (1 - width) * uniform(generator, n, -1, 1)
    centre_y = (1 - height) * uniform(generator, n, -1, 1)
    return Geometry(width, height, uniform(generator, n, -max_angle, max_angle), centre_x, centre_y,
                    coin(generator, n, p_hflip), coin(generator, n, p_vflip))


def random_boxes(generator: torch.Generator, n: int, size: int, area: torch.Tensor) -> torch.Tensor:
    """Boolean (n, 1, size, size) masks of one square box each, covering about `area` of the image, placed
    uniformly inside it."""
    side = (area.clamp(0, 1).sqrt() * size).round().clamp(1, size).long()
    top = (uniform(generator, n, 0, 1) * (size - side + 1)).long().clamp(max=size - side)
    left = (uniform(generator, n, 0, 1) * (size - side + 1)).long().clamp(max=size - side)
    rows = torch.arange(size).view(1, size, 1)
    cols = torch.arange(size).view(1, 1, size)
    inside = ((rows >= top.view(-1, 1, 1)) & (rows < (top + side).view(-1, 1, 1))
              & (cols >= left.view(-1, 1, 1)) & (cols < (left + side).view(-1, 1, 1)))
    return inside.unsqueeze(1)
