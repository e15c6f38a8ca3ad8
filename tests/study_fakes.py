"""Fakes for the studies' tests: trained-model records over the `shapes` fixture, a calibration, and a `Study` at the
smoke scale whose outputs go to a temporary folder."""
from __future__ import annotations

import numpy as np

from copyscope import config
from copyscope.artifacts.calibration import Calibration
from copyscope.artifacts.models import TrainedModel
from copyscope.data.training_set import MV, TV, UNIQUE
from copyscope.embed.pixel import PixelExtractor
from copyscope.report import StudyOutputs
from copyscope.studies.evaluation import Matcher
from copyscope.studies.session import Study
from tests.conftest import tiny_model


def trained_on(data, n: int = 6, duplicated=(0,), caption_kind: str = "instance") -> TrainedModel:
    """A tiny untrained model with the record of having trained on the first n images of `data` (`duplicated`: the
    MV ones; template-family members, where `data` has families, the TV ones)."""
    flags = np.zeros(n, dtype=bool)
    flags[list(duplicated)] = True
    family = [-1] * n if data.families is None else data.families[:n].tolist()
    kinds = [MV if d else TV if f >= 0 else UNIQUE for d, f in zip(flags, family)]
    record = {"prompts": [c[0] for c in data.captions[:n]], "duplicated": flags.tolist(), "duplication_kind": kinds,
              "family": family, "caption_kind": caption_kind, "ids": data.ids[:n],
              "dataset": "scenes" if data.families is not None else "shapes"}
    return TrainedModel(tiny_model(), record)


def calibration(threshold: float = 0.9, calibrated: bool = True) -> Calibration:
    table = [{"name": "pixel", "mAP": 0.3, "R@1": 0.2, "threshold": threshold, "preprocessing": "{}"},
             {"name": "copy_detector", "mAP": 0.2, "R@1": 0.1, "threshold": 0.95, "preprocessing": "{}"}]
    curves = {"pixel": [{"threshold": 0.95, "precision": 1.0, "recall": 0.1},
                        {"threshold": 0.9, "precision": 0.96, "recall": 0.3}],
              "copy_detector": [{"threshold": 0.97, "precision": 0.5, "recall": 0.05}]}
    return Calibration(extractor="pixel", threshold=threshold, calibrated=calibrated, precision=0.95, resolution=16,
                       table=table, curves=curves, skipped={"dino_vitb16": "no weights. Download them"})


def smoke_params(**sections) -> config.Params:
    """The smoke scale's params, with some study sections' fields replaced ({"detection": {"explain": 1}})."""
    params = config.load("smoke")
    updates = {name: getattr(params, name).model_copy(update=fields) for name, fields in sections.items()}
    return params.model_copy(update=updates)


def study(name: str, folder, params: config.Params | None = None, threshold: float = 0.9,
          similarity: str = "dot") -> Study:
    """A Study at the smoke scale (or `params`) with the pixel extractor (at 8 px: 192 dimensions keep the Fréchet
    distance cheap), writing into `folder`."""
    extractor = PixelExtractor(8)
    return Study(name, params or smoke_params(), calibration(threshold), extractor,
                 Matcher(extractor, similarity, 4), StudyOutputs(name, folder))
