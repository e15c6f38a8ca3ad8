"""The extractor stage: train the copy detector, rank extractors on the copy benchmark, calibrate the replica
threshold; and how the studies read that choice back.

Everything here uses the held-out dataset, disjoint from every diffusion model's training data: the first `n_train`
images train the copy detector, the rest build the benchmark.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from copyscope import paths
from copyscope.atomic import write_json
from copyscope.benchmark.copies import build_benchmark
from copyscope.benchmark.ranking import rank_extractors
from copyscope.data.dataset import ImageCaptionSet
from copyscope.downloads import MissingWeights
from copyscope.embed.copy_detector import CopyDetectorConfig, train_and_save
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


def run(params) -> Calibration:
    """Train the copy detector and rank the candidate extractors; write data/extractors/."""
    spec = params.extractors
    data = ImageCaptionSet.load(paths.dataset_dir(spec.dataset))
    if data.masks is None or len(data) <= spec.n_train:
        raise ValueError(f"extractors.dataset {spec.dataset!r} needs masks and more than n_train={spec.n_train} "
                         f"images (it has {len(data)})")
    config = CopyDetectorConfig(**{**spec.copy_detector, "image_size": data.resolution, "seed": params.seed})
    train_and_save(data.images[:spec.n_train], data.masks[:spec.n_train], config,
                   paths.extractors_dir() / "copy_detector")
    benchmark = build_benchmark(data.images[spec.n_train:], data.masks[spec.n_train:], seed=params.seed,
                                **spec.benchmark.model_dump())
    candidates, skipped = {}, {}
    for name in spec.candidates:
        try:
            candidates[name] = get_extractor(name, **extractor_options(name, data.resolution))
        except MissingWeights as missing:
            skipped[name] = str(missing)
    table = rank_extractors(benchmark, candidates, spec.precision)
    chosen = table["name"].iloc[0] if spec.use == "best" else spec.use
    if chosen not in candidates:
        raise ValueError(f"extractors.use names {chosen!r}, which is not among the ranked candidates")
    threshold = float(table.set_index("name").loc[chosen, "threshold"])
    calibrated = not math.isnan(threshold)
    reports = table.attrs["reports"]
    result = Calibration(
        extractor=chosen, threshold=threshold if calibrated else spec.fallback_threshold, calibrated=calibrated,
        precision=spec.precision, resolution=data.resolution,
        table=json.loads(table.to_json(orient="records")),
        curves={name: json.loads(r.curve.to_json(orient="records")) for name, r in reports.items()},
        skipped=skipped,
    )
    write_json(paths.extractors_dir() / RESULT, result.__dict__)
    return result


def load() -> Calibration:
    """The extractor stage's choice, for the studies."""
    path = paths.extractors_dir() / RESULT
    if not path.is_file():
        raise FileNotFoundError(f"no {path}: run the extractor stage first (`dvc repro extractors`)")
    return Calibration(**json.loads(path.read_text()))
