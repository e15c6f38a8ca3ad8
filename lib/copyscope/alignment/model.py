"""A small CLIP built from open_clip's own towers, sized for 16–32 px images, saved as a state dict + JSON config."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import open_clip
import torch
from open_clip import CLIPTextCfg, CLIPVisionCfg
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.tokenizer import SimpleTokenizer

from copyscope.alignment.score import ClipScorer
from copyscope.atomic import atomic_directory
from copyscope.config import AlignmentConfig
from copyscope.embed.base import ResizeNormalize

CONFIG_FILE, WEIGHTS_FILE = "alignment.json", "weights.pt"


def build_clip(config: AlignmentConfig) -> open_clip.CLIP:
    """A randomly initialised open_clip CLIP of the config's shape, seeded with its `seed` (global RNG untouched)."""
    vision = CLIPVisionCfg(layers=config.vision_layers, width=config.vision_width,
                           head_width=config.vision_head_width, patch_size=config.patch_size,
                           image_size=config.image_size)
    text = CLIPTextCfg(context_length=config.context_length, width=config.text_width, heads=config.text_heads,
                       layers=config.text_layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return open_clip.CLIP(config.embed_dim, vision, text)


class AlignmentModel(ClipScorer):
    """The trained small CLIP as a scorer: images are resized (antialiased) to `image_size` and normalised with
    `mean`/`std`; captions use open_clip's CLIP BPE tokenizer, truncated to `context_length`."""

    def __init__(self, config: AlignmentConfig, clip: open_clip.CLIP, history: dict | None = None,
                 batch_size: int = 256):
        super().__init__(clip, batch_size)
        self.config = config
        self.history = history or {}  # what training recorded: per-step loss, wall time
        self._tokenizer = SimpleTokenizer(context_length=config.context_length)
        self.transform = ResizeNormalize(config.image_size, "bilinear", config.mean or OPENAI_DATASET_MEAN,
                                         config.std or OPENAI_DATASET_STD)

    @classmethod
    def untrained(cls, config: AlignmentConfig, device: torch.device | str = "cpu") -> "AlignmentModel":
        """A freshly initialised model (what training starts from; a no-skill baseline)."""
        return cls(config, build_clip(config).to(device))

    def prepare_images(self, images: np.ndarray) -> torch.Tensor:
        return self.transform(torch.as_tensor(np.asarray(images), device=self.device))

    def tokenize(self, captions: list[str]) -> torch.Tensor:
        return self._tokenizer(captions).to(self.device)

    def save(self, path: str | Path) -> None:
        """The JSON config (with the training history) and the state dict in one folder, written atomically."""
        with atomic_directory(path) as tmp:
            (tmp / CONFIG_FILE).write_text(json.dumps({"config": self.config.model_dump(mode="json"), "history": self.history}))
            torch.save(self.model.state_dict(), tmp / WEIGHTS_FILE)

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> "AlignmentModel":
        """Load a folder written by `save`."""
        path = Path(path)
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(f"{path} is not a saved alignment model (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
        saved = json.loads((path / CONFIG_FILE).read_text())
        config = AlignmentConfig(**saved["config"])
        clip = build_clip(config)
        clip.load_state_dict(torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True))
        return cls(config, clip.to(device), saved["history"])
