"""Deep validation of params.yaml: what the schema in `copyscope.config` cannot check without the library — that
every mitigation (training- and inference-time) builds with its parameters and every extractor name is known.

Stages that import torch anyway (params, train, extractors, alignment) and the study notebooks load params through
`load`, so a bad name fails before any of them writes anything.
"""
from __future__ import annotations

from pathlib import Path

from copyscope.config import ConfigError, Params
from copyscope.config import load as load_schema
from copyscope.embed.registry import EXTRACTORS
from copyscope.mitigation.factory import inference_mitigation, training_hooks


def check(params: Params) -> Params:
    """`params` itself if everything it names can be built, else a ConfigError naming the key path."""
    for name, spec in params.models.items():
        _build(f"models.{name}.mitigation", training_hooks, spec.mitigation.name, spec.mitigation.params)
    for name, options in params.mitigation.inference_points():
        _build(f"mitigation.inference.{name}", inference_mitigation, name, options)
    unknown = [name for name in params.extractors.candidates if name not in EXTRACTORS]
    where = "extractors.candidates"
    if params.stable_diffusion is not None and params.stable_diffusion.extractor not in EXTRACTORS:
        unknown, where = [params.stable_diffusion.extractor], "stable_diffusion.extractor"
    if unknown:
        raise ConfigError(f"params.yaml at scale {params.scale!r} is invalid: {where}: unknown "
                          f"extractor(s) {', '.join(map(repr, unknown))}; known: {', '.join(EXTRACTORS)}")
    return params


def load(scale: str | None = None, path: str | Path | None = None) -> Params:
    """params.yaml at `scale`, validated against the schema and deeply."""
    return check(load_schema(scale, path))


def _build(where: str, factory, name: str, options: dict) -> None:
    try:
        factory(name, **options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"params.yaml is invalid: {where}: {err}") from None
