"""The pipeline's training stage, and loading what it wrote (datasets are prepared by `copyscope.data.prepare`)."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from copyscope import paths
from copyscope.atomic import atomic_directory
from copyscope.config import Params
from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.training_set import Duplication, TrainingSet
from copyscope.mitigation.factory import training_hooks, training_set_options
from copyscope.models.text_to_image import TextToImage, build_pixel_model
from copyscope.training import TrainConfig, train


def pick_device() -> torch.device:
    """$COPYSCOPE_DEVICE if set, else CUDA when present, else the CPU."""
    return torch.device(os.environ.get("COPYSCOPE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu"))


def training_subset(n_images: int, n_train: int | None, seed: int) -> np.ndarray:
    """Indices of the first n_train images of a seeded permutation: subsets of growing size are nested."""
    if n_train is not None and n_train > n_images:
        raise ValueError(f"n_train {n_train} exceeds the dataset's {n_images} images")
    return np.random.default_rng([seed, 7]).permutation(n_images)[: n_train or n_images]


def training_set(name: str, params: Params) -> TrainingSet:
    """The images, captions and duplication that model `name` trains on (MC training adds multiple captions)."""
    spec = params.models[name]
    data = ImageCaptionSet.load(paths.dataset_dir(spec.dataset))
    indices = training_subset(len(data), spec.n_train, params.seed)
    multiple = spec.multiple_captions or training_set_options(spec.mitigation.name).get("multiple_captions", False)
    return TrainingSet(data.subset(indices), spec.captions, Duplication(**spec.duplication.model_dump()),
                       multiple, seed=params.seed)


def train_config(name: str, params: Params, device: torch.device) -> TrainConfig:
    t = params.training_for(name)
    return TrainConfig(
        steps=t.steps, batch_size=t.batch_size, lr=t.lr, warmup_steps=t.warmup_steps, lr_schedule=t.lr_schedule,
        weight_decay=t.weight_decay, p_uncond=t.p_uncond, hflip=t.hflip, train_text_encoder=t.train_text_encoder,
        checkpoint_every=t.checkpoint_every,
        precision=("bf16" if device.type == "cuda" else "fp32") if t.precision == "auto" else t.precision,
        compile=(device.type == "cuda") if t.compile == "auto" else t.compile,
        seed=params.seed,
    )


def train_model(name: str, params: Params) -> None:
    """Train model `name` (with its training-time mitigation, if any), resuming from data/checkpoints/<name>.pt, and
    save it under data/models/<name>."""
    device = pick_device()
    mitigation = params.models[name].mitigation
    hooks = training_hooks(mitigation.name, **mitigation.params)
    data = training_set(name, params)
    model = build_pixel_model(data.data.resolution, seed=params.seed, **params.architecture.model_dump()).to(device)
    config = train_config(name, params, device)
    fingerprint = _fingerprint(params.models[name].model_dump(), params.architecture.model_dump(), config,
                               data.data.images)
    checkpoint = paths.repo_root() / "data" / "checkpoints" / f"{name}.pt"
    result = train(model, data, config, checkpoint, fingerprint, hooks)
    with atomic_directory(paths.model_dir(name)) as tmp:
        model.save(tmp / "model")
        record = {
            "name": name, "dataset": params.models[name].dataset, "caption_kind": data.caption_kind,
            "ids": data.data.ids, "prompts": [data.prompt(i) for i in range(len(data))],
            "duplicated": data.duplicated.tolist(), "mitigation": mitigation.model_dump(), "steps": result.steps,
            "seconds": round(result.seconds, 1),
            "final_loss": float(np.mean([r["loss"] for r in result.log[-100:]])), "device": device.type,
        }
        (tmp / "training.json").write_text(json.dumps(record, indent=1) + "\n")
        with open(tmp / "loss.csv", "w") as handle:
            handle.write("step,loss,kept\n")
            handle.writelines(f"{r['step']},{r['loss']:.6f},{r['kept']:.4f}\n" for r in result.log)
    checkpoint.unlink(missing_ok=True)


@dataclass
class TrainedModel:
    """A trained model with the record of what it saw: training ids, prompts and duplication flags."""

    model: TextToImage
    record: dict

    @property
    def prompts(self) -> list[str]:
        return self.record["prompts"]

    @property
    def duplicated(self) -> np.ndarray:
        return np.asarray(self.record["duplicated"], dtype=bool)

    def training_images(self, data: ImageCaptionSet) -> np.ndarray:
        index = {image_id: i for i, image_id in enumerate(data.ids)}
        return data.images[[index[i] for i in self.record["ids"]]]


def load_trained(name: str, device: torch.device | None = None) -> TrainedModel:
    folder = paths.model_dir(name)
    if not (folder / "training.json").is_file():
        raise FileNotFoundError(f"model {name!r} is not trained yet (no {folder}/training.json): run `dvc repro`")
    model = TextToImage.load(folder / "model", device or pick_device())
    return TrainedModel(model, json.loads((folder / "training.json").read_text()))


def _fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()
