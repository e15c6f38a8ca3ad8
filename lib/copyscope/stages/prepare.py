"""The prepare stage: build a dataset from its params.yaml section and save it under data/datasets/<name>.

Kept apart from the training code so that preparing data never imports torch.
"""
from __future__ import annotations

from copyscope import paths
from copyscope.config import Params
from copyscope.data import sources
from copyscope.data.dataset import ImageCaptionSet


def run(name: str, params: Params) -> ImageCaptionSet:
    """Build dataset `name` from its params section and save it under data/datasets/<name>."""
    spec = params.datasets[name]
    if spec.kind == "procedural":
        data = sources.procedural_set(spec.n_images, spec.resolution, spec.seed, spec.max_objects, spec.n_captions,
                                      spec.identifiers)
    elif spec.kind == "scenes":
        data = sources.scenes_set(spec.n_images, spec.resolution, spec.seed, spec.max_objects, spec.n_captions,
                                  spec.families, spec.family_size, spec.n_titles)
    elif spec.kind == "digits":
        data = sources.digits_set(spec.resolution)
    elif spec.kind == "faces":
        data = sources.faces_set(spec.resolution)
    elif spec.kind == "emoji":
        data = sources.emoji_set(spec.resolution, spec.family_sizes, spec.seed)
    else:
        data = sources.folder_set(spec.path, spec.resolution, spec.captions)
    data.meta["params"] = spec.model_dump()
    data.save(paths.dataset_dir(name))
    return data
