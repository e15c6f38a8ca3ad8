"""The study stages: execute notebooks/<study>.ipynb with papermill into data/executed/<study>.ipynb (at a scale
that runs on Stable Diffusion, notebooks/sd_<study>.ipynb in its place).

The executed copy appears only when the whole notebook ran; a failed run is kept as <study>.failed.ipynb, beside
where the output would be, for reading its traceback.
"""
from __future__ import annotations

import os
from pathlib import Path

import papermill
from jupyter_client.kernelspec import KernelSpecManager

from copyscope import paths
from copyscope.config import Params

KERNEL = "copyscope"


def kernel_name() -> str:
    """The project's kernel when registered (scripts/run.sh does it), else the running Python's own (Colab, Kaggle)."""
    return KERNEL if KERNEL in KernelSpecManager().find_kernel_specs() else "python3"


def source_notebook(study: str, params: Params) -> Path:
    """The notebook a study stage runs at the params' scale: the Stable Diffusion version where the scale has one."""
    name = study if params.stable_diffusion is None else f"sd_{study}"
    return paths.repo_root() / "notebooks" / f"{name}.ipynb"


def run(study: str, params: Params) -> Path:
    """Run the study's notebook at the params' scale into data/executed/<study>.ipynb."""
    root = paths.repo_root()
    source = source_notebook(study, params)
    if not source.is_file():
        raise FileNotFoundError(f"no notebook {source}")
    target = root / "data" / "executed" / f"{study}.ipynb"
    failed = target.with_suffix(".failed.ipynb")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    papermill.execute_notebook(
        str(source), str(failed), parameters={"scale": params.scale}, kernel_name=kernel_name(),
        cwd=str(root), log_output=True, progress_bar=False,
    )
    os.replace(failed, target)
    return target
