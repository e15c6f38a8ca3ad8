"""The prepare stage: build a dataset from its params.yaml section and save it under data/datasets/<name>.

Kept apart from the training code so that preparing data never imports torch.
"""
from __future__ import annotations

from copyscope import paths
from copyscope.config import Dataset, Params
from copyscope.data import sources
from copyscope.data.dataset import ImageCaptionSet


def run(name: str, params: Params) -> ImageCaptionSet:
    """Build dataset `name` from its params section and save it under data/datasets/<name>."""
    spec = params.datasets[name]
    data = build(spec)
    data.meta["params"] = spec.model_dump()
    data.save(paths.dataset_dir(name))
    return data


def build(spec: Dataset) -> ImageCaptionSet:
    """The dataset a params.yaml `datasets` section describes, in memory."""
    if spec.kind == "procedural":
        return sources.procedural_set(spec.n_images, spec.resolution, spec.seed, spec.max_objects, spec.n_captions,
                                      spec.identifiers)
    if spec.kind == "scenes":
        return sources.scenes_set(spec.n_images, spec.resolution, spec.seed, spec.max_objects, spec.n_captions,
                                  spec.families, spec.family_size, spec.n_titles)
    if spec.kind == "digits":
        return sources.digits_set(spec.resolution)
    if spec.kind == "faces":
        return sources.faces_set(spec.resolution)
    if spec.kind == "emoji":
        return sources.emoji_set(spec.resolution, spec.family_sizes, spec.seed)
    return sources.folder_set(spec.path, spec.resolution, spec.captions)
