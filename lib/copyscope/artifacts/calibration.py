"""The extractor stage's choice, as the studies read it: which extractor, its replica threshold, the benchmark."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from copyscope import paths
from copyscope.errors import MissingOutput
from copyscope.atomic import write_json
from copyscope.embed.registry import get_extractor

RESULT = "benchmark.json"


def extractor_options(name: str, resolution: int) -> dict:
    """How the pipeline builds an extractor: the pixel one at the data's resolution; the copy detector from the
    extractor stage's output and downloaded ones from data/downloads (their defaults)."""
    if name == "pixel":
        return {"size": resolution}
    return {}


@dataclass
class Calibration:
    """The extractor the studies use and its replica threshold, with the benchmark that chose them."""

    extractor: str
    threshold: float
    calibrated: bool  # False: no threshold reached the precision; `threshold` is the configured fallback
    precision: float
    resolution: int
    table: list[dict]  # one row per ranked extractor
    curves: dict[str, list[dict]]  # precision-recall points per extractor
    skipped: dict[str, str]  # extractors whose weights are not downloaded, with the reason

    def build_extractor(self, **options):
        return get_extractor(self.extractor, **{**extractor_options(self.extractor, self.resolution), **options})

    def save(self) -> None:
        write_json(paths.extractors_dir() / RESULT, asdict(self))


def load_calibration() -> Calibration:
    path = paths.extractors_dir() / RESULT
    if not path.is_file():
        raise MissingOutput(f"no {path}: run the extractor stage first (`dvc repro extractors`)")
    return Calibration(**json.loads(path.read_text()))
