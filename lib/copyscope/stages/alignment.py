"""The alignment stage: train the small CLIP on held-out procedural pairs, check that it tracks caption correctness,
and write data/alignment/ (read back by `copyscope.artifacts.alignment`)."""
from __future__ import annotations

import numpy as np

from copyscope import paths, validation
from copyscope.alignment.evaluation import caption_correctness
from copyscope.alignment.training import train_alignment_model
from copyscope.artifacts.alignment import CORRECTNESS, MODEL
from copyscope.atomic import write_json
from copyscope.config import Params
from copyscope.data.dataset import ImageCaptionSet


def run(params: Params) -> dict:
    """Train on the first `n_train` held-out images, measure caption correctness on the rest; write data/alignment/."""
    validation.check(params)
    spec = params.alignment
    data = ImageCaptionSet.load(paths.dataset_dir(spec.dataset))
    if len(data) <= spec.n_train:
        raise ValueError(f"alignment.dataset {spec.dataset!r} needs more than n_train={spec.n_train} images "
                         f"(it has {len(data)}): the rest measure caption correctness")
    config = spec.model.model_copy(update={"image_size": data.resolution, "seed": params.seed})
    model = train_alignment_model(data.subset(np.arange(spec.n_train)), config)
    correctness = caption_correctness(model, data.subset(np.arange(spec.n_train, len(data))), seed=params.seed)
    model.save(paths.alignment_dir() / MODEL)
    write_json(paths.alignment_dir() / CORRECTNESS, correctness)
    return correctness
