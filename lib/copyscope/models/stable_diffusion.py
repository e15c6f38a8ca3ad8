"""Stable Diffusion behind the same `TextToImage` interface, so every study runs on it unchanged.

Weights are read from disk only: a diffusers folder (anywhere, or data/downloads/<key> for the checkpoints the
papers use), or a hub id already in the Hugging Face cache. Downloading happens only when explicitly allowed;
otherwise a missing model raises `MissingWeights` saying what to download and where to put it. A local folder is
checked first: one that is missing, or lacks model_index.json or a component subfolder, is named with what it lacks.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline

from copyscope.downloads import MissingWeights
from copyscope.models.text_to_image import TextToImage
from copyscope.paths import downloads_dir

KNOWN = {  # hub ids of the checkpoints the papers use
    "sd-v1-4": "CompVis/stable-diffusion-v1-4",  # paper C
    "sd-v1-5": "stable-diffusion-v1-5/stable-diffusion-v1-5",  # later detection work
    "sd-v2-1": "stabilityai/stable-diffusion-2-1",  # paper B
}
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")  # what the pipeline needs without an index
EXAMPLE_HUB_ID = KNOWN["sd-v1-4"]


def _local_folder(source: str | Path) -> Path | None:
    """The folder `source` names (checked to hold a diffusers pipeline), or None for a hub id."""
    if str(source) in KNOWN and (downloads_dir() / str(source)).is_dir():
        return _checked_pipeline_folder(downloads_dir() / str(source))
    if _looks_like_a_path(source):
        return _checked_pipeline_folder(Path(source))
    return None


def _looks_like_a_path(source: str | Path) -> bool:
    """A Path, an existing file or folder, or text no hub id ("owner/name": one slash, no leading . or /) can be."""
    text = str(source)
    return isinstance(source, Path) or Path(text).exists() or text.startswith((".", "/")) or text.count("/") > 1


def _checked_pipeline_folder(folder: Path) -> Path:
    """`folder`, or MissingWeights naming what it lacks to be a diffusers-format pipeline folder."""
    if not folder.is_dir():
        problem = "is a file, not a folder" if folder.exists() else "does not exist"
        raise MissingWeights(f"Stable Diffusion folder {folder} {problem}{_layout_hint(folder)}")
    index = folder / "model_index.json"
    missing = [] if index.is_file() else [index.name]
    missing += [f"{name}/" for name in _components(index) if not (folder / name).is_dir()]
    if missing:
        raise MissingWeights(f"Stable Diffusion folder {folder} lacks {', '.join(missing)}{_layout_hint(folder)}")
    return folder


def _components(index: Path) -> list[str]:
    """The subfolders the pipeline loads: the non-optional components model_index.json lists, else COMPONENTS."""
    if not index.is_file():
        return list(COMPONENTS)
    try:
        entries = json.loads(index.read_text())
    except json.JSONDecodeError as err:
        raise MissingWeights(f"{index} is not valid JSON ({err}){_layout_hint(index.parent)}") from err
    return [name for name, value in entries.items() if not name.startswith("_") and isinstance(value, list)
            and None not in value and name not in StableDiffusionPipeline._optional_components]


def _layout_hint(folder: Path) -> str:
    return (f"; it should be a diffusers-format pipeline folder (model_index.json and one subfolder per component), "
            f"e.g. as written by `hf download {EXAMPLE_HUB_ID} --local-dir {folder}`.")


def locate(source: str | Path) -> Path | str:
    """Where `source` loads from without downloading: its checked local folder, or a hub id found in the Hugging
    Face cache; else MissingWeights saying what to download and where to put it."""
    folder = _local_folder(source)
    if folder is not None:
        return folder
    from huggingface_hub import snapshot_download

    hub_id = KNOWN.get(str(source), str(source))
    try:
        snapshot_download(hub_id, local_files_only=True)
    except Exception as err:  # huggingface_hub raises several kinds for "not cached"
        raise _not_here(str(source), type(err).__name__) from err
    return hub_id


def _not_here(source: str, reason: str) -> MissingWeights:
    hub_id = KNOWN.get(source, source)
    target = downloads_dir() / (source if source in KNOWN else hub_id.rsplit("/", 1)[-1])
    return MissingWeights(
        f"Stable Diffusion {hub_id!r} is not on this machine ({reason}); copyscope never downloads at run time. "
        f"Download it once on a machine with internet, e.g. `hf download {hub_id} --local-dir {target}`, then load "
        f"source='{target}' (or pass allow_download=True where downloading is fine).")


def load_stable_diffusion(source: str | Path = "sd-v1-4", device: torch.device | str = "cpu",
                          dtype: torch.dtype | None = None, allow_download: bool = False) -> TextToImage:
    """A `TextToImage` from a Stable Diffusion pipeline: `source` is a diffusers folder, a key of KNOWN, or a hub
    id; fp16 on CUDA unless `dtype` says otherwise (always float32 on CPU, where half precision is not supported
    for every operation)."""
    on_cuda = torch.device(device).type == "cuda"
    dtype = (dtype or torch.float16) if on_cuda else torch.float32
    options = dict(torch_dtype=dtype, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    folder = _local_folder(source)
    pipe = _from_folder(folder, options) if folder is not None else _from_hub(str(source), allow_download, options)
    model = TextToImage(unet=pipe.unet, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                        scheduler_config=dict(pipe.scheduler.config), vae=pipe.vae)
    return model.to(device)


def _from_folder(folder: Path, options: dict) -> StableDiffusionPipeline:
    try:
        return StableDiffusionPipeline.from_pretrained(folder, **options)
    except (OSError, ValueError) as err:
        raise MissingWeights(f"Stable Diffusion folder {folder} does not load ({type(err).__name__}: {err})"
                             f"{_layout_hint(folder)}") from err


def _from_hub(source: str, allow_download: bool, options: dict) -> StableDiffusionPipeline:
    """A known key or hub id from the Hugging Face cache (or the hub when `allow_download`)."""
    hub_id = KNOWN.get(source, source)
    try:
        return StableDiffusionPipeline.from_pretrained(hub_id, local_files_only=not allow_download, **options)
    except (OSError, ValueError) as err:
        raise _not_here(source, type(err).__name__) from err
