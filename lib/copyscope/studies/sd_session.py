"""Opening a study on Stable Diffusion (the `sd` scale): params validated and every download checked before anything
is loaded or written (what the studies then load, and their generate → search loop: `copyscope.studies.sd_pipeline`).

    study = open_study("sd_detection", scale)
    print(study.summary())
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from copyscope import scale_downloads, validation
from copyscope.config import ConfigError, Params, Sampling, StableDiffusionScale
from copyscope.report import StudyOutputs


@dataclass
class SDStudy:
    """What a Stable Diffusion study notebook shares across its cells (`section`, `sampling` and `params.seed` as
    the embedded `Study` has them, so the detectors' study functions run unchanged)."""

    name: str  # the notebook's: sd_<study>
    params: Params
    outputs: StudyOutputs  # figures/<study>/, the folder of the stage this notebook runs in

    @property
    def study(self) -> str:
        """The pipeline study this notebook stands in for at the `sd` scale (its DVC stage and figures folder)."""
        return self.name.removeprefix("sd_")

    @property
    def spec(self) -> StableDiffusionScale:
        return self.params.stable_diffusion

    @property
    def section(self):
        return getattr(self.params, self.study)

    @property
    def sampling(self) -> Sampling:
        return self.params.sampling

    @property
    def precision(self) -> torch.dtype:
        return torch.float16 if self.spec.precision == "fp16" else torch.float32

    def summary(self) -> str:
        spec, sampling = self.spec, self.sampling
        prompts = ", ".join(p.format for p in spec.prompts)
        return (f"scale {self.params.scale}, {self.study} study on Stable Diffusion {spec.pipeline} "
                f"({spec.precision} on GPU); prompts {prompts}; extractor {spec.extractor!r} at threshold "
                f"{spec.replica_threshold:g}; DDIM {sampling.steps} steps, guidance {sampling.guidance:g}")


def open_study(name: str, scale: str | None = None) -> SDStudy:
    """Validate params at `scale` (it must configure `stable_diffusion`) and check every download it needs, before
    anything is loaded or written."""
    params = validation.load(scale)
    if params.stable_diffusion is None:
        raise ConfigError(f"{name} runs on Stable Diffusion: choose a scale with a stable_diffusion section (sd), "
                          f"not {params.scale!r}")
    scale_downloads.require_all(params)
    return SDStudy(name, params, StudyOutputs(name.removeprefix("sd_")))
