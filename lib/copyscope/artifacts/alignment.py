"""The alignment stage's small CLIP, as the studies read it: its caption-correctness check and a scorer."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from copyscope import paths
from copyscope.errors import MissingOutput
from copyscope.data.sources import without_title

CORRECTNESS = "correctness.json"
MODEL = "model"


def alignment_correctness() -> dict:
    """How well the score prefers true captions over one-attribute corruptions (measured by the stage)."""
    return json.loads(_existing(paths.alignment_dir() / CORRECTNESS).read_text())


def alignment_scorer() -> Callable[[np.ndarray, list[str]], np.ndarray]:
    """Alignment of each image with its prompt, titles removed (the scorer never saw the made-up title words)."""
    from copyscope.alignment.model import AlignmentModel  # open_clip: imported only where a scorer is built
    from copyscope.devices import pick_device

    model = AlignmentModel.load(_existing(paths.alignment_dir() / MODEL), pick_device())
    return lambda images, prompts: model.score(images, [without_title(p) for p in prompts])


def _existing(path: Path) -> Path:
    if not path.exists():
        raise MissingOutput(f"no {path}: run the alignment stage first (`dvc repro alignment`)")
    return path
