"""The train stage: train one model of params.yaml's `models` and save it under data/models/<name>."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from copyscope import paths, validation
from copyscope.artifacts.models import RECORD
from copyscope.atomic import atomic_directory
from copyscope.config import Params
from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.training_set import TrainingSet
from copyscope.devices import pick_device
from copyscope.mitigation.factory import training_hooks, training_set_options
from copyscope.models.text_to_image import build_pixel_model
from copyscope.training import train


def training_subset(n_images: int, n_train: int | None, seed: int, families: np.ndarray | None = None,
                    templates: bool = False) -> np.ndarray:
    """Indices of the first n_train images of a seeded permutation: subsets of growing size are nested. Template
    family members are left out, or (`templates`) all taken first and the rest filled with singles."""
    family = np.full(n_images, -1) if families is None else np.asarray(families)
    members = np.flatnonzero(family >= 0) if templates else np.zeros(0, dtype=int)
    singles = np.random.default_rng([seed, 7]).permutation(np.flatnonzero(family < 0))
    wanted = n_train or len(members) + len(singles)
    if wanted > len(members) + len(singles) or wanted < len(members):
        raise ValueError(f"n_train {n_train} does not fit the dataset: {len(singles)} single images and "
                         f"{len(members)} template-family members")
    return np.r_[members, singles[: wanted - len(members)]].astype(int)


def training_set(name: str, params: Params) -> TrainingSet:
    """The images, captions and duplication that model `name` trains on (MC training adds multiple captions)."""
    spec = params.models[name]
    data = ImageCaptionSet.load(paths.dataset_dir(spec.dataset))
    indices = training_subset(len(data), spec.n_train, params.seed, data.families,
                              spec.duplication.template_factor > 1)
    multiple = spec.multiple_captions or training_set_options(spec.mitigation.name).get("multiple_captions", False)
    return TrainingSet(data.subset(indices), spec.captions, spec.duplication, multiple, seed=params.seed)


def run(name: str, params: Params) -> None:
    """Train model `name` (with its training-time mitigation, if any), resuming from data/checkpoints/<name>.pt, and
    save it under data/models/<name>."""
    validation.check(params)
    device = pick_device()
    spec = params.models[name]
    hooks = training_hooks(spec.mitigation.name, **spec.mitigation.params)
    data = training_set(name, params)
    model = untrained_model(params, name).to(device)
    fingerprint = _fingerprint(spec.model_dump(), params.architecture.model_dump(), params.seed, device.type,
                               data.data.images)
    checkpoint = paths.repo_root() / "data" / "checkpoints" / f"{name}.pt"
    result = train(model, data, spec.training, checkpoint, params.seed, fingerprint, hooks)
    with atomic_directory(paths.model_dir(name)) as tmp:
        model.save(tmp / "model")
        record = {
            "name": name, "dataset": spec.dataset, "caption_kind": data.caption_kind,
            "ids": data.data.ids, "prompts": [data.prompt(i) for i in range(len(data))],
            "duplicated": data.duplicated.tolist(), "duplication_kind": data.duplication_kind(),
            "family": ([-1] * len(data) if data.data.families is None else data.data.families.tolist()),
            "mitigation": spec.mitigation.model_dump(), "steps": result.steps,
            "final_loss": float(np.mean([r["loss"] for r in result.log[-100:]])), "device": device.type,
        }
        (tmp / RECORD).write_text(json.dumps(record, indent=1) + "\n")
        (tmp / "timing.json").write_text(json.dumps({"seconds": round(result.seconds, 1)}) + "\n")
        with open(tmp / "loss.csv", "w") as handle:
            handle.write("step,loss,kept\n")
            handle.writelines(f"{r['step']},{r['loss']:.6f},{r['kept']:.4f}\n" for r in result.log)
    checkpoint.unlink(missing_ok=True)


def untrained_model(params: Params, name: str):
    """Model `name` at step 0: what training starts from (the detection study's control)."""
    resolution = params.datasets[params.models[name].dataset].resolution
    return build_pixel_model(resolution, seed=params.seed, **params.architecture.model_dump())


def _fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()
