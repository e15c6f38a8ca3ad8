"""Tiny stand-ins for everything the `sd` scale downloads, in the layouts the real files have: a random-weight
Stable Diffusion pipeline in the diffusers folder layout, a TorchScript copy descriptor where SSCD's goes, an
open_clip checkpoint of a registered tiny architecture, prompt files in every supported format, and training images
in img2dataset's `files` layout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import open_clip
import pandas as pd
import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from copyscope.models.tokenizer import build_clip_tokenizer
from tests.shard_fakes import write_files

CLIP_ARCH = "copyscope-tiny-clip"
MEMORIZED = ["a red square on blue", "a green circle at noon", "a yellow star in rain", "a black cat portrait"]
CLEAN = ["a photo of a dog", "an oil painting of a river", "a city at night", "a bowl of fruit"]


def save_tiny_pipeline(path: Path, prediction_type: str = "epsilon", text_length: int = 16) -> Path:
    """Stable Diffusion's architecture at toy size (VAE latents, CLIP text encoder, cross-attention UNet), random
    weights, written with save_pretrained."""
    torch.manual_seed(0)
    tokenizer = build_clip_tokenizer(text_length)
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL(block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2,
                          up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
                          sample_size=16),
        text_encoder=CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                                  num_hidden_layers=1, num_attention_heads=2,
                                                  max_position_embeddings=text_length)),
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                                  down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                  up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), layers_per_block=1,
                                  cross_attention_dim=16, attention_head_dim=4, norm_num_groups=4),
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                prediction_type=prediction_type, clip_sample=False, set_alpha_to_one=False,
                                steps_offset=1),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(path)
    return path


class _Descriptor(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, kernel_size=16, stride=16)
        self.head = torch.nn.Linear(8, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean(dim=(2, 3)))


def save_tiny_sscd(path: Path) -> Path:
    """A TorchScript image descriptor where SSCD's file goes (any TorchScript module images -> vectors loads)."""
    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(_Descriptor().eval()).save(str(path))
    return path


def save_tiny_clip(path: Path) -> Path:
    """An open_clip state dict of a registered tiny architecture (CLIP_ARCH)."""
    config = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16,
                                              "head_width": 16},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    folder = path.parent / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{CLIP_ARCH}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder)
    torch.manual_seed(0)
    torch.save(open_clip.create_model(CLIP_ARCH).state_dict(), path)
    return path


def write_prompt_files(root: Path) -> dict[str, Path]:
    """One small file per supported format under `root` (the downloads folder), at each format's default path."""
    from copyscope.prompt_sets import SOURCES

    paths = {kind: root / source.path for kind, source in SOURCES.items()}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    paths["wen"].write_text("".join(json.dumps({"caption": p, "index": i}) + "\n" for i, p in enumerate(MEMORIZED)))
    pd.DataFrame({"caption": MEMORIZED + CLEAN[:2], "overfit_type": ["MV", "MV", "TV", "RV", "N", "N"],
                  "url": [f"https://example.org/{i}.jpg" for i in range(6)]}).to_parquet(paths["webster"])
    pd.DataFrame({"prompt": MEMORIZED[:2], "urls": ["u0", "u1"]}).to_csv(paths["membench"], index=False)
    pd.DataFrame({"Caption": MEMORIZED[2:], "type": ["VM", "TM"]}).to_csv(paths["nemo"], sep=";", index=False)
    paths["plain"].write_text("caption\n" + "\n".join(CLEAN) + "\n")
    return paths


def write_training_images(root: Path, size: int = 16) -> np.ndarray:
    """Two img2dataset `files` shards of small random images."""
    return write_files(root, n_shards=2, per_shard=6, size=size, seed=3)
