"""The params stage, first in the pipeline: validate params.yaml deeply at its scale and write, per stage, exactly
the values that stage reads (data/stage_params.yaml).

Every other stage takes its DVC params from that file, so a stage reruns only when a value it reads changes, at
every scale: an override under `scales.smoke.models.shapes-1` reruns that model and the studies that read it,
nothing else. Deep validation builds every mitigation, extractor config and alignment config params.yaml names and
the extractor that `extractors.use` names, so a typo or a missing download stops the pipeline here, before any
stage writes anything.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from copyscope import paths, scale_downloads, validation
from copyscope.atomic import atomic_file
from copyscope.config import STUDIES, Params
from copyscope.stages.extractors import build_candidates

FILE = "stage_params.yaml"


class _PlainDumper(yaml.SafeDumper):
    """Every value written out in full, never as an anchor and alias: each stage's entry reads on its own."""

    def ignore_aliases(self, data) -> bool:
        return True


def stage_params_file() -> Path:
    return paths.repo_root() / "data" / FILE


def stage_params(params: Params) -> dict:
    """{stage group: {stage or item: the values it reads}}, the keys dvc.yaml's `params:` entries name."""
    dump = params.model_dump(mode="json")
    models = dump["models"]
    studies = {}
    for study in STUDIES:
        names = [name for key, name in params.study_models() if key.split(".")[0] == study]
        studies[study] = {"scale": params.scale, "seed": params.seed, "sampling": dump["sampling"],
                          "architecture": dump["architecture"], "study": dump[study],
                          "models": {name: models[name] for name in dict.fromkeys(names)},
                          "stable_diffusion": dump["stable_diffusion"]}  # set: the study runs on it
    return {
        "prepare": dump["datasets"],
        "train": {name: {"seed": params.seed, "architecture": dump["architecture"], "model": spec}
                  for name, spec in models.items()},
        "extractors": {"seed": params.seed, "extractors": dump["extractors"]},
        "alignment": {"seed": params.seed, "alignment": dump["alignment"]},
        **studies,
    }


def run(params: Params) -> Path:
    """Validate deeply and check the chosen extractor's downloads (at the `sd` scale every download it needs, listed
    in one message), then write data/stage_params.yaml."""
    validation.check(params)
    if params.stable_diffusion is not None:
        scale_downloads.require_all(params)
    spec = params.extractors
    if spec.use != "best":
        build_candidates([spec.use], spec.use, params.datasets[spec.dataset].resolution)
    path = stage_params_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as handle:
        yaml.dump(stage_params(params), handle, Dumper=_PlainDumper, sort_keys=False)
    return path
