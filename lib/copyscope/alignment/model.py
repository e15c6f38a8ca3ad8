"""A small CLIP built from open_clip's own towers, sized for 16–32 px images, saved as a state dict + JSON config."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
from open_clip import CLIPTextCfg, CLIPVisionCfg
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.tokenizer import SimpleTokenizer

from copyscope.alignment.score import ClipScorer
from copyscope.atomic import atomic_directory
from copyscope.embed.base import ResizeNormalize

CONFIG_FILE, WEIGHTS_FILE = "alignment.json", "weights.pt"


@dataclass(frozen=True)
class AlignmentConfig:
    """Architecture (a ViT image tower and a causal text transformer over CLIP's BPE vocabulary) and training."""

    image_size: int = 16
    patch_size: int = 4
    vision_width: int = 64
    vision_layers: int = 2
    vision_head_width: int = 32
    text_width: int = 64
    text_layers: int = 2
    text_heads: int = 4
    context_length: int = 40  # the grammar's longest caption is 36 BPE tokens + start and end
    embed_dim: int = 64
    mean: tuple[float, float, float] = OPENAI_DATASET_MEAN
    std: tuple[float, float, float] = OPENAI_DATASET_STD
    steps: int = 400
    batch_size: int = 128
    lr: float = 2e-3
    warmup_steps: int = 40
    weight_decay: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("image_size", "patch_size", "vision_width", "vision_layers", "vision_head_width", "text_width",
                     "text_layers", "text_heads", "context_length", "embed_dim", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"AlignmentConfig.{name} must be positive, got {getattr(self, name)}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.vision_width % self.vision_head_width:
            raise ValueError(f"vision_width {self.vision_width} is not a multiple of vision_head_width "
                             f"{self.vision_head_width}")
        if self.text_width % self.text_heads:
            raise ValueError(f"text_width {self.text_width} is not a multiple of text_heads {self.text_heads}")
        if self.context_length < 3:
            raise ValueError(f"context_length must leave room for a word between start and end, got "
                             f"{self.context_length}")

    def build_clip(self) -> open_clip.CLIP:
        """A randomly initialised open_clip CLIP of this shape, seeded with `seed` (global RNG left untouched)."""
        vision = CLIPVisionCfg(layers=self.vision_layers, width=self.vision_width, head_width=self.vision_head_width,
                               patch_size=self.patch_size, image_size=self.image_size)
        text = CLIPTextCfg(context_length=self.context_length, width=self.text_width, heads=self.text_heads,
                           layers=self.text_layers)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return open_clip.CLIP(self.embed_dim, vision, text)


class AlignmentModel(ClipScorer):
    """The trained small CLIP as a scorer: images are resized (antialiased) to `image_size` and normalised with
    `mean`/`std`; captions use open_clip's CLIP BPE tokenizer, truncated to `context_length`."""

    def __init__(self, config: AlignmentConfig, clip: open_clip.CLIP, history: dict | None = None,
                 batch_size: int = 256):
        super().__init__(clip, batch_size)
        self.config = config
        self.history = history or {}  # what training recorded: per-step loss, wall time
        self._tokenizer = SimpleTokenizer(context_length=config.context_length)
        self.transform = ResizeNormalize(config.image_size, "bilinear", config.mean, config.std)

    @classmethod
    def untrained(cls, config: AlignmentConfig, device: torch.device | str = "cpu") -> "AlignmentModel":
        """A freshly initialised model (what training starts from; a no-skill baseline)."""
        return cls(config, config.build_clip().to(device))

    def prepare_images(self, images: np.ndarray) -> torch.Tensor:
        return self.transform(torch.as_tensor(np.asarray(images), device=self.device))

    def tokenize(self, captions: list[str]) -> torch.Tensor:
        return self._tokenizer(captions).to(self.device)

    def save(self, path: str | Path) -> None:
        """The JSON config (with the training history) and the state dict in one folder, written atomically."""
        with atomic_directory(path) as tmp:
            (tmp / CONFIG_FILE).write_text(json.dumps({"config": asdict(self.config), "history": self.history}))
            torch.save(self.model.state_dict(), tmp / WEIGHTS_FILE)

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> "AlignmentModel":
        """Load a folder written by `save`."""
        path = Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a saved alignment model (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
        saved = json.loads((path / CONFIG_FILE).read_text())
        raw = saved["config"]
        config = AlignmentConfig(**{**raw, "mean": tuple(raw["mean"]), "std": tuple(raw["std"])})
        clip = config.build_clip()
        clip.load_state_dict(torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        return cls(config, clip.to(device), saved["history"])
