"""Where things live, resolved from the repository root so papermill (cwd = root) and JupyterLab (cwd = notebooks/)
agree."""
from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """$COPYSCOPE_ROOT, else the nearest folder above the cwd holding params.yaml and dvc.yaml, else the checkout
    this package was installed from."""
    if "COPYSCOPE_ROOT" in os.environ:
        return Path(os.environ["COPYSCOPE_ROOT"]).resolve()
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "params.yaml").is_file() and (folder / "dvc.yaml").is_file():
            return folder
    return Path(__file__).resolve().parents[2]


def params_file() -> Path:
    return repo_root() / "params.yaml"


def dataset_dir(name: str) -> Path:
    return repo_root() / "data" / "datasets" / name


def model_dir(name: str, seed: int = 0) -> Path:
    """One training seed of model `name` (the train stage's output data/models/<name> holds them all)."""
    return repo_root() / "data" / "models" / name / f"seed-{seed}"


def extractors_dir() -> Path:
    """The extractor stage's output: the trained copy detector and the copy-benchmark calibration."""
    return repo_root() / "data" / "extractors"


def alignment_dir() -> Path:
    """The alignment stage's output: the small CLIP and its caption-correctness check."""
    return repo_root() / "data" / "alignment"


def figures_dir(study: str) -> Path:
    return repo_root() / "figures" / study


def downloads_dir() -> Path:
    """Where users put downloaded weights and data (never fetched at run time)."""
    return Path(os.environ.get("COPYSCOPE_DOWNLOADS", repo_root() / "data" / "downloads"))
