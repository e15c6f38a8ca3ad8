"""A model's output folder data/models/<name>: keep exactly its seeds 0..n-1 (no torch import, so a model with
`seeds: 0`, not trained at this scale, costs its stage no more than reading params)."""
from __future__ import annotations

import shutil

from copyscope import paths


def keep_seeds(name: str, seeds: int) -> None:
    """Create the folder and delete the seed-<k> subfolders with k >= `seeds` (left by a scale with more)."""
    folder = paths.model_dir(name).parent
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("seed-*"):
        if int(stale.name.split("-")[1]) >= seeds:
            shutil.rmtree(stale)
