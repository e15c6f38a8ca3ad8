"""Stable Diffusion behind the same `TextToImage` interface, so every study runs on it unchanged.

Weights are read from disk only: a diffusers folder (anywhere, or data/downloads/<key> for the checkpoints the
papers use), or a hub id already in the Hugging Face cache. Downloading happens only when explicitly allowed;
otherwise a missing model raises `MissingWeights` saying what to download and where to put it.
"""
from __future__ import annotations

from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

from copyscope.downloads import MissingWeights
from copyscope.models.text_to_image import TextToImage
from copyscope.paths import downloads_dir

KNOWN = {  # hub ids of the checkpoints the papers use
    "sd-v1-4": "CompVis/stable-diffusion-v1-4",  # paper C
    "sd-2-1": "stabilityai/stable-diffusion-2-1",  # paper B
}


def _local_folder(source: str | Path) -> Path | None:
    if Path(source).is_dir():
        return Path(source)
    if str(source) in KNOWN and (downloads_dir() / str(source)).is_dir():
        return downloads_dir() / str(source)
    return None


def load_stable_diffusion(source: str | Path = "sd-v1-4", device: torch.device | str = "cpu",
                          dtype: torch.dtype | None = None, allow_download: bool = False) -> TextToImage:
    """A `TextToImage` from a Stable Diffusion pipeline: `source` is a diffusers folder, a key of KNOWN, or a hub
    id; fp16 on CUDA unless `dtype` says otherwise."""
    dtype = dtype or (torch.float16 if torch.device(device).type == "cuda" else torch.float32)
    hub_id = KNOWN.get(str(source), str(source))
    folder = _local_folder(source)
    options = dict(torch_dtype=dtype, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    try:
        pipe = (StableDiffusionPipeline.from_pretrained(folder, **options) if folder is not None else
                StableDiffusionPipeline.from_pretrained(hub_id, local_files_only=not allow_download, **options))
    except (OSError, ValueError) as err:
        target = downloads_dir() / (str(source) if str(source) in KNOWN else hub_id.rsplit("/", 1)[-1])
        raise MissingWeights(
            f"Stable Diffusion {hub_id!r} is not on this machine ({type(err).__name__}); copyscope never downloads "
            f"at run time. Download it once on a machine with internet, e.g. `hf download {hub_id} --local-dir "
            f"{target}`, then load source='{target}' (or pass allow_download=True where downloading is fine)."
        ) from err
    model = TextToImage(unet=pipe.unet, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                        scheduler_config=dict(pipe.scheduler.config), vae=pipe.vae)
    return model.to(device)
