"""The extractors stage: train the copy detector, rank extractors on the copy benchmark, calibrate the replica
threshold, and write data/extractors/ (read back by `copyscope.artifacts.calibration`).

Everything here uses the held-out dataset, disjoint from every diffusion model's training data: the first `n_train`
images train the copy detector, the rest build the benchmark. Every candidate that does not need the copy detector
is built before any training, so a missing download or a bad name fails before anything is written.
"""
from __future__ import annotations

import json
import math

from copyscope import paths, validation
from copyscope.artifacts.calibration import Calibration, extractor_options
from copyscope.benchmark.copies import build_benchmark
from copyscope.benchmark.ranking import rank_extractors
from copyscope.config import Params
from copyscope.data.dataset import ImageCaptionSet
from copyscope.downloads import MissingWeights
from copyscope.embed.copy_detector import train_and_save
from copyscope.embed.registry import get_extractor

COPY_DETECTOR = "copy_detector"


def build_candidates(names: list[str], use: str, resolution: int) -> tuple[dict, dict[str, str]]:
    """The candidates that can be built now (all but the copy detector), and those skipped for missing weights
    with the reason. The extractor named by `use` must be buildable: its missing weights are an error."""
    built, skipped = {}, {}
    for name in names:
        if name == COPY_DETECTOR:
            continue
        try:
            built[name] = get_extractor(name, **extractor_options(name, resolution))
        except MissingWeights as missing:
            if name == use:
                raise
            skipped[name] = str(missing)
    return built, skipped


def run(params: Params) -> Calibration:
    """Train the copy detector and rank the candidate extractors; write data/extractors/."""
    validation.check(params)
    spec = params.extractors
    data = ImageCaptionSet.load(paths.dataset_dir(spec.dataset))
    if data.masks is None or len(data) <= spec.n_train:
        raise ValueError(f"extractors.dataset {spec.dataset!r} needs masks and more than n_train={spec.n_train} "
                         f"images (it has {len(data)})")
    candidates, skipped = build_candidates(spec.candidates, spec.use, data.resolution)
    if COPY_DETECTOR in spec.candidates:
        config = spec.copy_detector.model_copy(update={"image_size": data.resolution, "seed": params.seed})
        train_and_save(data.images[:spec.n_train], data.masks[:spec.n_train], config,
                       paths.extractors_dir() / COPY_DETECTOR)
        candidates[COPY_DETECTOR] = get_extractor(COPY_DETECTOR)
    candidates = {name: candidates[name] for name in spec.candidates if name in candidates}  # params order
    benchmark = build_benchmark(data.images[spec.n_train:], data.masks[spec.n_train:], seed=params.seed,
                                **spec.benchmark.model_dump())
    table = rank_extractors(benchmark, candidates, spec.precision)
    chosen = table["name"].iloc[0] if spec.use == "best" else spec.use
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
    result.save()
    return result
