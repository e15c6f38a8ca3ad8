"""A copy-detection extractor trained here, offline, in the spirit of SSCD (Pizzi et al. 2022).

A small CNN with GeM pooling and a linear projection to a unit-length descriptor, trained contrastively: two
copy-augmented views of each image must match each other and no other image of the batch (InfoNCE with in-batch
negatives), while a KoLeo (Kozachenko–Leonenko) entropy term pushes each descriptor away from its nearest
non-matching neighbour so that descriptors spread over the sphere and similarity scores are comparable.
Copy augmentations: random resized crop, flips, small rotation, colour jitter, grayscale, blur, solarize, and
pastes from other images: a square box swapped with another image (cutmix) or the image's masked objects pasted on
another image (segmix). Training is seeded: the same config and data give the same weights (bit for bit on the
CPU; CUDA convolutions may differ in the last bits).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from copyscope import augment
from copyscope.atomic import atomic_directory
from copyscope.config import CopyDetectorConfig
from copyscope.devices import pick_device
from copyscope.embed.base import Extractor, ResizeNormalize, check_images

WEIGHTS_FILE, CONFIG_FILE = "weights.pt", "config.json"


class GeM(nn.Module):
    """Generalised-mean pooling over the spatial positions: (mean x^p)^(1/p)."""

    def __init__(self, p: float = 3.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=1e-6).pow(self.p).mean(dim=(2, 3)).pow(1 / self.p)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class CopyNet(nn.Module):
    """Stem plus three stride-2 stages (image_size / 8 spatial positions per side), GeM, linear projection."""

    def __init__(self, width: int, dim: int):
        super().__init__()
        w = width
        self.trunk = nn.Sequential(
            _conv(3, w),
            _conv(w, 2 * w, 2), _conv(2 * w, 2 * w),
            _conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w),
            _conv(4 * w, 8 * w, 2), _conv(8 * w, 8 * w),
        )
        self.pool = GeM()
        self.head = nn.Linear(8 * w, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.trunk(x)))


class CopyDetector(Extractor):
    """The trained network as an extractor; `tokens` gives the trunk's last feature map, one token per position."""

    def __init__(self, network: CopyNet, config: CopyDetectorConfig, training: dict | None = None,
                 device: str | torch.device | None = None, batch_size: int = 256, progress: bool = True):
        super().__init__(device, batch_size, progress)
        self.network = network.to(self.device).eval()
        self.config = config
        self.training = training or {}
        self.name = "copy_detector"
        self.transform = preprocessing(config)
        self.preprocessing = self.transform.describe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.trunk(x).flatten(2).transpose(1, 2)

    def save(self, path: str | Path) -> None:
        """A folder with the state dict and a JSON of the config and training record, written atomically."""
        with atomic_directory(path) as tmp:
            torch.save({k: v.cpu() for k, v in self.network.state_dict().items()}, tmp / WEIGHTS_FILE)
            record = {"config": self.config.model_dump(mode="json"), "training": self.training, "preprocessing": self.preprocessing}
            (tmp / CONFIG_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None, **options) -> "CopyDetector":
        path = Path(path)
        if not (path / WEIGHTS_FILE).is_file() or not (path / CONFIG_FILE).is_file():
            raise FileNotFoundError(f"no trained copy detector at {path} (expected {WEIGHTS_FILE} and {CONFIG_FILE}):"
                                    " train one with copyscope.embed.copy_detector.train_and_save")
        record = json.loads((path / CONFIG_FILE).read_text())
        config = CopyDetectorConfig(**record["config"])
        network = CopyNet(config.width, config.dim)
        network.load_state_dict(torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        return cls(network, config, record.get("training"), device=device, **options)


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Cross-entropy of finding each view's partner among the other 2B - 1 views (unit-length rows)."""
    z = torch.cat([z1, z2])
    logits = (z @ z.T / temperature).fill_diagonal_(float("-inf"))
    n = len(z1)
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, partner)


def koleo(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Kozachenko–Leonenko entropy loss: -mean log distance from each view to its nearest non-matching view."""
    z = torch.cat([z1, z2])
    n = len(z1)
    same = torch.arange(2 * n, device=z.device) % n
    similarity = (z @ z.T).masked_fill(same[:, None] == same[None, :], float("-inf"))
    nearest = similarity.max(dim=1).values
    return -(2 - 2 * nearest).clamp(min=1e-6).sqrt().log().mean()


def copy_view(x: torch.Tensor, masks: torch.Tensor | None, donors: torch.Tensor, generator: torch.Generator,
              config: CopyDetectorConfig) -> torch.Tensor:
    """One copy-augmented view of each image in [0, 1]. `donors` (other images, one per image, already augmented)
    supply pasted content: with probability p_cutmix a square box (30–70% of the area) is swapped in, either the
    box or its surround coming from the donor; with probability p_segmix everything but the image's masked objects
    is replaced by the donor."""
    view, geometry = _augmented(x, generator, config)
    n, size, device = len(x), x.shape[-1], x.device
    choice = augment.uniform(generator, n, 0, 1).to(device).view(-1, 1, 1, 1)
    box = augment.random_boxes(generator, n, size, augment.uniform(generator, n, 0.3, 0.7)).to(device)
    box_is_own = augment.coin(generator, n, 0.5).to(device).view(-1, 1, 1, 1)
    own = torch.where(box_is_own, box, ~box)
    pasted = (choice < config.p_cutmix) & ~own
    if masks is not None:
        shown = augment.warp(masks, geometry, padding="reflection", mode="nearest") > 0.5
        segmix = (choice >= config.p_cutmix) & (choice < config.p_cutmix + config.p_segmix)
        pasted |= segmix & shown.flatten(1).any(dim=1).view(-1, 1, 1, 1) & ~shown
    return torch.where(pasted, donors, view)


def _augmented(x: torch.Tensor, generator: torch.Generator,
               config: CopyDetectorConfig) -> tuple[torch.Tensor, augment.Geometry]:
    """Random resized crop, rotation, flips, then photometric changes; returns the views and their geometry."""
    geometry = augment.random_resized_crops(generator, len(x), config.crop_scale, config.max_rotation, 0.5, 0.1)
    return _photometric(augment.warp(x, geometry, padding="reflection"), generator), geometry


def _photometric(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    x = augment.color_jitter(x, generator, 0.4, 0.4, 0.4, 0.1, p=0.8)
    x = augment.random_grayscale(x, generator, 0.2)
    x = augment.random_gaussian_blur(x, generator, 5, (0.1, 1.5), p=0.3)
    return augment.random_solarize(x, generator, 0.9, 0.1)


def preprocessing(config: CopyDetectorConfig) -> ResizeNormalize:
    """Resize to image_size (bilinear, antialiased) and map [0, 1] to [-1, 1]: at training and at inference."""
    return ResizeNormalize(config.image_size, "bilinear", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def _training_data(images: np.ndarray, masks: np.ndarray | None, config: CopyDetectorConfig,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The images resized as at inference, in [0, 1] for the augmentations; the masks resized alike (nearest)."""
    x = preprocessing(config)(torch.from_numpy(images).to(device)) * 0.5 + 0.5
    if masks is None:
        return x, None
    m = torch.from_numpy((np.asarray(masks) > 0).astype(np.float32)).to(device).unsqueeze(1)
    return x, F.interpolate(m, size=(config.image_size, config.image_size), mode="nearest")


def train_copy_detector(images: np.ndarray, masks: np.ndarray | None, config: CopyDetectorConfig,
                        progress: bool = True, device: str | torch.device | None = None) -> CopyDetector:
    """Train a copy detector on uint8 images (N×H×W×3, square) with optional N×H×W object masks (0 = background)."""
    images = check_images(images)
    if masks is not None and np.shape(masks) != images.shape[:3]:
        raise ValueError(f"masks {np.shape(masks)} do not match images {images.shape[:3]}")
    if len(images) < 2 * config.batch_size:
        raise ValueError(f"{len(images)} images are too few for batch_size {config.batch_size}: each step needs "
                         f"{2 * config.batch_size} distinct images (a batch and as many paste donors)")
    device = torch.device(device) if device is not None else pick_device()
    x, m = _training_data(images, masks, config, device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network = CopyNet(config.width, config.dim).to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, config))
    network.train()
    log, began = [], time.perf_counter()
    bar = tqdm(range(config.steps), desc="copy detector", disable=not progress, mininterval=5)
    for step in bar:
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        order = torch.randperm(len(x), generator=generator).to(device)
        batch, donor = order[:config.batch_size], order[config.batch_size:2 * config.batch_size]
        views = []
        for _ in range(2):
            donors, _ = _augmented(x[donor], generator, config)
            view = copy_view(x[batch], None if m is None else m[batch], donors, generator, config)
            views.append(F.normalize(network((view - 0.5) / 0.5), dim=1))
        contrastive, entropy = info_nce(*views, config.temperature), koleo(*views)
        loss = contrastive + config.koleo_weight * entropy
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        log.append({"step": step + 1, "loss": loss.item(), "info_nce": contrastive.item(), "koleo": entropy.item()})
        if (step + 1) % 50 == 0:
            bar.set_postfix(loss=f"{np.mean([r['loss'] for r in log[-50:]]):.3f}")
    training = {"seconds": time.perf_counter() - began, "images": len(images), "masks": masks is not None,
                "device": str(device), "log": log}
    return CopyDetector(network, config, training, device=device)


def _lr_factor(step: int, config: CopyDetectorConfig) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.5 * (1 + np.cos(np.pi * min(1.0, progress)))


def train_and_save(images: np.ndarray, masks: np.ndarray | None, config: CopyDetectorConfig, path: str | Path,
                   progress: bool = True) -> CopyDetector:
    """Train (see `train_copy_detector`) and save to `path`: the body of the pipeline stage."""
    detector = train_copy_detector(images, masks, config, progress=progress)
    detector.save(path)
    return detector
