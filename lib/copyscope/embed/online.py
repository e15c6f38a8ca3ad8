"""Extractors with published weights (SSCD, DINO, CLIP), loaded from files the user downloaded.

Nothing here downloads. Each loader looks under `copyscope.paths.downloads_dir()` (or an explicit path) and, when
the weights are missing, raises `copyscope.downloads.MissingWeights` saying what to download, from where, and where
to put it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from copyscope.devices import pick_device
from copyscope.downloads import MissingWeights, require
from copyscope.embed.base import IMAGENET_MEAN, IMAGENET_STD, Extractor, ResizeNormalize
from copyscope.paths import downloads_dir

SSCD_URL = "https://dl.fbaipublicfiles.com/sscd-copy-detection/{name}.torchscript.pt"
SSCD_MODELS = ("sscd_disc_mixup", "sscd_disc_large")
SSCD_SIZE = 288  # the SSCD README's inference size; images are resized to a square (SSCD's DISC evaluation)
DINO_HUB_ID = "facebook/dino-vitb16"
CLIP_ARCH, CLIP_TAG = "ViT-B-32", "laion2b_s34b_b79k"
OPEN_CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


def sscd_path(name: str) -> Path:
    return downloads_dir() / "sscd" / f"{name}.torchscript.pt"


def sscd_weights(name: str, path: str | Path | None = None) -> Path:
    """The downloaded TorchScript file of SSCD model `name`, else MissingWeights with the download command."""
    path = Path(path) if path is not None else sscd_path(name)
    url = SSCD_URL.format(name=name)
    return require(path, f"SSCD weights {path.name}", url, f"mkdir -p {path.parent} && wget -O {path} {url}")


def dino_path() -> Path:
    return downloads_dir() / "dino-vitb16"


def dino_weights(path: str | Path | None = None) -> Path:
    """The downloaded DINO ViT-B/16 transformers folder, else MissingWeights with the download command."""
    path = Path(path) if path is not None else dino_path()
    return require(path / "config.json", f"DINO ViT-B/16 ({DINO_HUB_ID}, a transformers model folder)",
                   f"the Hugging Face model {DINO_HUB_ID}",
                   f"`hf download {DINO_HUB_ID} --local-dir {path}`, or in Python "
                   f"`ViTModel.from_pretrained('{DINO_HUB_ID}').save_pretrained('{path}')`").parent


def open_clip_folder(arch: str, tag: str) -> Path:
    return downloads_dir() / "open_clip" / f"{arch}-{tag}"


class SSCDExtractor(Extractor):
    """SSCD's TorchScript descriptor (Pizzi et al. 2022): 512-d (disc_mixup) or 1024-d (disc_large).

    One preprocessing, from the SSCD README: resize to 288×288 (bilinear, antialiased), ImageNet mean/std.
    """

    def __init__(self, name: str = "sscd_disc_mixup", path: str | Path | None = None,
                 device: str | torch.device | None = None, batch_size: int = 64, progress: bool = True):
        if name not in SSCD_MODELS:
            raise ValueError(f"unknown SSCD model {name!r}; expected one of {SSCD_MODELS}")
        super().__init__(device, batch_size, progress)
        path = sscd_weights(name, path)
        self.model = torch.jit.load(str(path), map_location=self.device).eval()
        self.name = name
        self.transform = ResizeNormalize(SSCD_SIZE, "bilinear", IMAGENET_MEAN, IMAGENET_STD)
        self.preprocessing = self.transform.describe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class DinoExtractor(Extractor):
    """DINO ViT-B/16 through transformers' ViTModel: the final CLS token as descriptor, patch tokens for
    split-product similarity.

    Preprocessing as in DINO's own code (bicubic, ImageNet mean/std; the hub's preprocessor_config says 0.5/0.5,
    which is not what DINO was trained with), resized to the model's image size (224) without a crop, so a copy in
    a corner is not cut away.
    """

    def __init__(self, path: str | Path | None = None, device: str | torch.device | None = None,
                 batch_size: int = 64, progress: bool = True):
        from transformers import ViTModel

        super().__init__(device, batch_size, progress)
        path = dino_weights(path)
        self.model = ViTModel.from_pretrained(path, add_pooling_layer=False).to(self.device).eval()
        self.name = "dino_vitb16"
        self.transform = ResizeNormalize(self.model.config.image_size, "bicubic", IMAGENET_MEAN, IMAGENET_STD)
        self.preprocessing = self.transform.describe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).last_hidden_state[:, 0]

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).last_hidden_state[:, 1:]


def load_open_clip(arch: str = CLIP_ARCH, checkpoint: str | Path | None = None, tag: str | None = CLIP_TAG,
                   device: str | torch.device | None = None):
    """An open_clip model from a downloaded checkpoint: (model in eval mode, preprocess transform, tokenizer).

    `tag` names the published weights (open_clip's pretrained tag): it gives the default checkpoint location, the
    download instructions, and the preprocessing and activation those weights were trained with. With `tag=None`
    the checkpoint must be given and the architecture's defaults are used.
    """
    import open_clip

    settings = open_clip.get_pretrained_cfg(arch, tag) if tag else {}
    if tag and not settings:
        raise ValueError(f"open_clip has no pretrained tag {tag!r} for {arch!r}; "
                         f"known: {open_clip.list_pretrained_tags_by_model(arch)}")
    if checkpoint is None:
        if not tag:
            raise ValueError("give either a checkpoint file or an open_clip pretrained tag")
        checkpoint = open_clip_checkpoint(arch, tag, settings)
    elif not Path(checkpoint).is_file():
        raise MissingWeights(f"open_clip checkpoint {checkpoint} does not exist")
    preprocessing = {key: settings[key] for key in ("mean", "std", "interpolation", "resize_mode") if key in settings}
    model, _, preprocess = open_clip.create_model_and_transforms(
        arch, pretrained=str(checkpoint), device=torch.device(device) if device is not None else pick_device(),
        force_quick_gelu=bool(settings.get("quick_gelu", False)),
        **{f"image_{key}": value for key, value in preprocessing.items()})
    return model.eval(), preprocess, open_clip.get_tokenizer(arch)


def open_clip_checkpoint(arch: str, tag: str, settings: dict | None = None) -> Path:
    """The downloaded checkpoint of open_clip's (arch, tag) under downloads/open_clip/<arch>-<tag>/."""
    if settings is None:
        import open_clip

        settings = open_clip.get_pretrained_cfg(arch, tag)
    folder = open_clip_folder(arch, tag)
    if settings.get("hf_hub"):
        names = OPEN_CLIP_WEIGHTS
        repo = settings["hf_hub"].strip("/")
        source = f"the Hugging Face repository {repo} (https://huggingface.co/{repo}), file {names[1]} or {names[0]}"
        how = f"`hf download {repo} {names[1]} --local-dir {folder}`"
    else:
        names = (Path(settings["url"]).name,)
        source, how = settings["url"], f"`mkdir -p {folder} && wget -P {folder} {settings['url']}`"
    found = [folder / name for name in names if (folder / name).is_file()]
    return found[0] if found else require(folder / names[-1], f"open_clip weights for {arch} ({tag})", source, how)


class ClipExtractor(Extractor):
    """CLIP image embeddings via open_clip, with open_clip's own preprocessing transform for those weights."""

    def __init__(self, arch: str = CLIP_ARCH, checkpoint: str | Path | None = None, tag: str | None = CLIP_TAG,
                 device: str | torch.device | None = None, batch_size: int = 64, progress: bool = True):
        super().__init__(device, batch_size, progress)
        self.model, self.preprocess, _ = load_open_clip(arch, checkpoint, tag, self.device)
        self.name = f"clip_{arch}" + (f"_{tag}" if tag else "")
        self.preprocessing = {"open_clip": [repr(step) for step in self.preprocess.transforms],
                              **getattr(self.model.visual, "preprocess_cfg", {})}

    def prepare(self, images: np.ndarray) -> torch.Tensor:
        return torch.stack([self.preprocess(Image.fromarray(image)) for image in images]).to(self.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(x)
