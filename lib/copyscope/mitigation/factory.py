"""Build mitigations by name from a params dict, so notebooks and stages share one vocabulary.

Training-time (`training_hooks`): none, mc, gn, rc, rt, cwr, rna (paper B) and filter (paper C). MC, multiple
captions, lives in the data: `training_set_options("mc")` gives the `TrainingSet` option that makes each draw pick
one of the image's captions (the caption hook only ever sees the caption already drawn), and its hooks are empty.
Inference-time (`inference_mitigation`): none, rt, rna, cwr, gn (paper B; four insertions by default, as the
official inference script), embedding_optimisation (paper C), static_transition, dynamic_transition (Jain et al.
2025) and initial_noise (Han et al. 2025).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from copyscope.mitigation.captions import (CaptionPerturbation, CaptionWordRepetition, RandomCaption,
                                           RandomNumbers, RandomTokens)
from copyscope.mitigation.descent import FirstStepDescent
from copyscope.mitigation.embedding_noise import EmbeddingNoise, PromptEmbeddingNoise
from copyscope.mitigation.embedding_optimisation import EmbeddingOptimisation
from copyscope.mitigation.guidance_transition import DynamicTransition, StaticTransition
from copyscope.mitigation.initial_noise import InitialNoiseAdjustment
from copyscope.mitigation.magnitude_filter import MagnitudeFilter
from copyscope.sampling import Guidance, Prepare
from copyscope.training import TrainingHooks

# name -> (TrainingHooks field, the hook's class); None: nothing to hook
TRAINING = {
    "none": None,
    "mc": None,
    "gn": ("embeddings", EmbeddingNoise),
    "rc": ("captions", RandomCaption),
    "rt": ("captions", RandomTokens),
    "cwr": ("captions", CaptionWordRepetition),
    "rna": ("captions", RandomNumbers),
    "filter": ("keep", MagnitudeFilter),
}

# name -> (InferenceMitigation field, the class, its defaults here); None: no intervention
INFERENCE = {
    "none": None,
    "rt": ("prompt_transform", RandomTokens, {"p": 1.0, "n_tokens": 4}),
    "rna": ("prompt_transform", RandomNumbers, {"p": 1.0, "n_numbers": 4}),
    "cwr": ("prompt_transform", CaptionWordRepetition, {"p": 1.0, "n_words": 4}),
    "gn": ("prepare", PromptEmbeddingNoise, {}),
    "embedding_optimisation": ("prepare", EmbeddingOptimisation, {}),
    "static_transition": ("transition", StaticTransition, {}),
    "dynamic_transition": ("transition", DynamicTransition, {}),
    "initial_noise": ("prepare", InitialNoiseAdjustment, {}),
}


@dataclass
class InferenceMitigation:
    """What `sampling.generate` needs for one inference-time mitigation, and what it costs.

    Use: `generate(model, m.prompts(prompts, rng), seed, guidance=m.guidance(7.5), prepare=m.prepare)`.
    """

    name: str
    prompt_transform: CaptionPerturbation | None = None
    prepare: Prepare | None = None
    transition: StaticTransition | DynamicTransition | None = None

    def prompts(self, prompts: list[str], rng: np.random.Generator) -> list[str]:
        """The prompts to generate from (a copy when the mitigation leaves them alone)."""
        return list(prompts) if self.prompt_transform is None else self.prompt_transform(prompts, rng)

    def guidance(self, scale: float) -> Guidance:
        """The guidance for `generate`: `scale` itself, or a per-step schedule built on it."""
        return scale if self.transition is None else self.transition.schedule(scale)

    @property
    def extra_unet_evals_per_image(self) -> float:
        """Mean extra UNet forward passes per image over the generations so far (NaN before any, when adaptive)."""
        if not isinstance(self.prepare, FirstStepDescent):
            return 0.0
        counts = self.prepare.unet_evaluations
        return float(np.mean(counts)) if counts else float("nan")


def training_hooks(name: str, **params) -> TrainingHooks:
    """The `TrainingHooks` of a training-time mitigation, e.g. `training_hooks("rc", p=0.1, n_tokens=4)`."""
    spec = _lookup(TRAINING, name, "training")
    if spec is None:
        _no_params(name, params)
        return TrainingHooks()
    field, kind = spec
    return TrainingHooks(**{field: _build(kind, name, params)})


def training_set_options(name: str) -> dict:
    """Keyword arguments for `TrainingSet` that a training-time mitigation needs (MC: multiple captions)."""
    _lookup(TRAINING, name, "training")
    return {"multiple_captions": True} if name == "mc" else {}


def inference_mitigation(name: str, **params) -> InferenceMitigation:
    """An inference-time mitigation, e.g. `inference_mitigation("embedding_optimisation", target=3.0)`."""
    spec = _lookup(INFERENCE, name, "inference")
    if spec is None:
        _no_params(name, params)
        return InferenceMitigation(name)
    field, kind, defaults = spec
    return InferenceMitigation(name, **{field: _build(kind, name, {**defaults, **params})})


def _lookup(registry: dict, name: str, kind: str) -> tuple | None:
    if name not in registry:
        raise ValueError(f"unknown {kind}-time mitigation {name!r}; known: {', '.join(registry)}")
    return registry[name]


def _no_params(name: str, params: dict) -> None:
    if params:
        raise ValueError(f"mitigation {name!r} takes no parameters, got {sorted(params)}")


def _build(kind: type, name: str, params: dict) -> object:
    accepted = list(inspect.signature(kind).parameters)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(f"mitigation {name!r} takes {accepted}; unknown parameter(s) {unknown}")
    return kind(**params)
