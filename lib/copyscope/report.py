"""Writing a study's results: metrics JSON (DVC metrics), tables (CSV) and figures (PNG), atomically."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from copyscope import paths
from copyscope.atomic import atomic_file, write_json
from copyscope.plots import save_figure


class StudyOutputs:
    """The figures/<study>/ folder that a notebook fills and DVC tracks (metrics, plots, tables)."""

    def __init__(self, study: str):
        self.folder = paths.figures_dir(study)
        self.folder.mkdir(parents=True, exist_ok=True)

    def metrics(self, data: dict, name: str = "metrics.json") -> Path:
        write_json(self.folder / name, data)
        return self.folder / name

    def table(self, frame: pd.DataFrame, name: str) -> Path:
        with atomic_file(self.folder / name) as handle:
            frame.to_csv(handle, index=False, float_format="%.6g")
        return self.folder / name

    def figure(self, fig, name: str) -> Path:
        save_figure(fig, self.folder / name)
        return self.folder / name
