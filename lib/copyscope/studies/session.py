"""Opening a study: one call validates params.yaml, reads the extractor stage's calibration, builds the extractor
and prepares figures/<study>/, in that order, so nothing is written before everything has been checked.

    study = open_study("replication", scale)
    print(study.summary())
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from copyscope import validation
from copyscope.artifacts.calibration import Calibration, load_calibration
from copyscope.config import STUDIES, ConfigError, Params, Sampling
from copyscope.report import StudyOutputs
from copyscope.studies.evaluation import Matcher


@dataclass
class Study:
    """Everything a study notebook shares across its cells."""

    name: str
    params: Params  # validated deeply (`copyscope.validation`: every mitigation and extractor named is buildable)
    calibration: Calibration
    extractor: Callable[[np.ndarray], np.ndarray]
    matcher: Matcher  # the extractor and the similarity that matches generations to training images
    outputs: StudyOutputs

    @property
    def section(self) -> BaseModel:
        """The study's own params section (`params.<name>`)."""
        return getattr(self.params, self.name)

    @property
    def sampling(self) -> Sampling:
        return self.params.sampling

    @property
    def threshold(self) -> float:
        """The replica threshold: the calibrated one (or the configured fallback, see `calibration.calibrated`)."""
        return self.calibration.threshold

    @property
    def models(self) -> list[str]:
        """The models the study reads, in params order."""
        return [model for key, model in self.params.study_models() if key.split(".")[0] == self.name]

    def summary(self) -> str:
        """One line: scale, models and their training-set sizes, extractor and threshold, sampler."""
        calib, sampling = self.calibration, self.sampling
        sizes = sorted({self.params.models[m].n_train for m in self.models}, key=lambda n: (n is None, n))
        labels = ["all" if n is None else str(n) for n in sizes]
        trained_on = labels[0] if len(labels) == 1 else f"{labels[0]}–{labels[-1]}"
        threshold = (f"threshold {calib.threshold:.3f} at precision {calib.precision:g}" if calib.calibrated
                     else f"threshold {calib.threshold:.3f} (fallback: no threshold reached {calib.precision:g})")
        similarity = "" if self.matcher.similarity == "dot" else (
            f", split product over {self.matcher.split_chunks} chunks")
        return (f"scale {self.params.scale}, {self.name} study: {len(self.models)} model(s) trained on "
                f"{trained_on} images; extractor {calib.extractor!r}{similarity}, {threshold}; "
                f"DDIM {sampling.steps} steps, guidance {sampling.guidance:g}")


def open_study(name: str, scale: str | None = None) -> Study:
    """Validate params (deeply) at `scale` (None: the one params.yaml names), read the calibration, build the
    extractor and its matcher (the replication study's `similarity` option; dot product elsewhere), check them, and
    only then prepare figures/<name>/."""
    if name not in STUDIES:
        raise ConfigError(f"unknown study {name!r}; known: {', '.join(STUDIES)}")
    params = validation.load(scale)
    calibration = load_calibration()
    extractor = calibration.build_extractor()
    matcher = Matcher(extractor)
    if name == "replication":
        matcher = Matcher(extractor, params.replication.similarity, params.replication.split_chunks)
    check_matcher(matcher, calibration.resolution)
    return Study(name, params, calibration, extractor, matcher, StudyOutputs(name))


def check_matcher(matcher: Matcher, resolution: int) -> None:
    """For split product: the extractor has token features that split into equal chunks (tried on one image)."""
    if matcher.similarity == "dot":
        return
    name = getattr(matcher.extractor, "name", type(matcher.extractor).__name__)
    try:
        tokens = matcher.extractor.tokens(np.zeros((1, resolution, resolution, 3), np.uint8))
    except (AttributeError, NotImplementedError):
        raise ConfigError(f"replication.similarity: split_product needs token features, which the {name!r} "
                          f"extractor does not have") from None
    if tokens.shape[1] % matcher.split_chunks:
        raise ConfigError(f"replication.split_chunks: the {tokens.shape[1]} tokens of the {name!r} extractor do not "
                          f"split into {matcher.split_chunks} equal chunks")
