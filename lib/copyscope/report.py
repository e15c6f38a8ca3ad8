"""Writing a study's results: metrics JSON (DVC metrics), tables (CSV), figures (PNG) and timing, atomically.

metrics.json is a flat dict of headline numbers (scalars only: DVC shows one column per key); the full detail
lives in the CSVs. Wall-clock seconds never go into either (a rerun reproduces both byte for byte): they go into
timing.json.
"""
from __future__ import annotations

import math
from numbers import Number
from pathlib import Path

import numpy as np
import pandas as pd

from copyscope import paths
from copyscope.atomic import atomic_file, write_json
from copyscope.plots import save_figure

TIMING = "timing.json"


def headline(values: dict) -> dict:
    """A flat metrics dict as JSON will read it back: numpy scalars as Python ones, NaN as None; a ValueError for a
    value that is not a scalar (nested dicts belong in a CSV) or, under a `*_ci95` key, a [low, high] pair."""
    out = {}
    for key, value in values.items():
        if key.endswith("_ci95"):
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise ValueError(f"metric {key!r} must be a [low, high] pair, got {value!r}")
            out[key] = [_scalar(key, v) for v in value]
        else:
            out[key] = _scalar(key, value)
    return out


def _scalar(key: str, value):
    if isinstance(value, np.generic):
        value = value.item()
    if value is not None and not isinstance(value, (str, bool, Number)):
        raise ValueError(f"metric {key!r} is a {type(value).__name__}, not a scalar")
    return None if isinstance(value, float) and not math.isfinite(value) else value


def is_flat(metrics: dict) -> bool:
    """Every value a scalar, or a [low, high] pair under a `*_ci95` key (the metrics format of `headline`)."""
    def scalar(value) -> bool:
        return value is None or isinstance(value, (str, bool, Number))

    return all(scalar(value) or (key.endswith("_ci95") and isinstance(value, list) and len(value) == 2
                                 and all(map(scalar, value))) for key, value in metrics.items())


class StudyOutputs:
    """The figures/<study>/ folder that a notebook fills and DVC tracks (metrics, plots, tables, timing)."""

    def __init__(self, study: str, folder: str | Path | None = None):
        self.folder = Path(folder) if folder is not None else paths.figures_dir(study)
        self.folder.mkdir(parents=True, exist_ok=True)

    def metrics(self, data: dict, name: str = "metrics.json") -> Path:
        write_json(self.folder / name, headline(data))
        return self.folder / name

    def timing(self, data: dict) -> Path:
        """Measured wall-clock seconds: kept out of the reproducible metrics and tables."""
        write_json(self.folder / TIMING, data)
        return self.folder / TIMING

    def table(self, frame: pd.DataFrame, name: str) -> Path:
        with atomic_file(self.folder / name) as handle:
            frame.to_csv(handle, index=False, float_format="%.6g")
        return self.folder / name

    def figure(self, fig, name: str) -> Path:
        save_figure(fig, self.folder / name)
        return self.folder / name
