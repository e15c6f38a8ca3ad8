"""The alignment stage: train the small CLIP on held-out procedural pairs, check that it tracks caption correctness,
and give the studies a scorer (generations against the descriptions in their prompts)."""
from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from copyscope import paths
from copyscope.alignment.evaluation import caption_correctness
from copyscope.alignment.model import AlignmentConfig, AlignmentModel
from copyscope.alignment.training import train_alignment_model
from copyscope.atomic import write_json
from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.sources import without_title
from copyscope.embed.base import default_device

CORRECTNESS = "correctness.json"


def run(params) -> dict:
    """Train on the first `n_train` held-out images, measure caption correctness on the rest; write data/alignment/."""
    spec = params.alignment
    data = ImageCaptionSet.load(paths.dataset_dir(spec.dataset))
    if len(data) <= spec.n_train:
        raise ValueError(f"alignment.dataset {spec.dataset!r} needs more than n_train={spec.n_train} images "
                         f"(it has {len(data)}): the rest measure caption correctness")
    config = AlignmentConfig(**{**spec.model, "image_size": data.resolution, "seed": params.seed})
    model = train_alignment_model(data.subset(np.arange(spec.n_train)), config)
    correctness = caption_correctness(model, data.subset(np.arange(spec.n_train, len(data))), seed=params.seed)
    model.save(paths.alignment_dir() / "model")
    write_json(paths.alignment_dir() / CORRECTNESS, correctness)
    return correctness


def correctness() -> dict:
    """What the alignment stage measured: how well the score prefers true captions over one-attribute corruptions."""
    return json.loads(_existing(paths.alignment_dir() / CORRECTNESS).read_text())


def scorer() -> Callable[[np.ndarray, list[str]], np.ndarray]:
    """Alignment of each image with its prompt, titles removed (the scorer never saw the made-up title words)."""
    model = AlignmentModel.load(_existing(paths.alignment_dir() / "model"), default_device())
    return lambda images, prompts: model.score(images, [without_title(p) for p in prompts])


def _existing(path):
    if not path.exists():
        raise FileNotFoundError(f"no {path}: run the alignment stage first (`dvc repro alignment`)")
    return path
