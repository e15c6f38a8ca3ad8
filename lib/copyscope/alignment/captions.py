"""Full captions of the procedural grammar, parsed back into scenes and corrupted one attribute at a time.

A full caption (the first caption `procedural.describe` writes) names every object's size, colour, texture (omitted
when plain), shape and position, and the background: "a small red striped circle at the top left and a large blue
square at the center on a gray background". A corruption changes exactly one of these, of one object, to another
value of the grammar (positions only to free cells), so it still describes a possible scene — just not this one.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np

from copyscope.data import procedural

ATTRIBUTES = ("color", "shape", "texture", "size", "position", "background")
OBJECT_VALUES = {
    "color": tuple(procedural.COLORS), "shape": procedural.SHAPES, "texture": procedural.TEXTURES,
    "size": tuple(procedural.SIZES), "position": tuple(procedural.POSITIONS),
}


def _one_of(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_OBJECT = re.compile(
    rf"a (?P<size>{_one_of(procedural.SIZES)}) (?P<color>{_one_of(procedural.COLORS)}) "
    rf"(?:(?P<texture>{_one_of(t for t in procedural.TEXTURES if t != 'plain')}) )?"
    rf"(?P<shape>{_one_of(procedural.SHAPES)}) at the (?P<position>{_one_of(procedural.POSITIONS)})"
)
_CAPTION = re.compile(rf"(?P<objects>.+) on a (?P<background>{_one_of(procedural.BACKGROUNDS)}) background")


def parse_caption(caption: str) -> procedural.Scene:
    """The scene a full caption describes; undescribed details (offsets, shades, gradient) are left neutral."""
    whole = _CAPTION.fullmatch(caption)
    parts = [_OBJECT.fullmatch(p) for p in whole["objects"].split(" and ")] if whole else [None]
    if not all(parts):
        raise ValueError(f"{caption!r} is not a full caption of the procedural grammar")
    objects = tuple(
        procedural.ShapeObject(shape=m["shape"], color=m["color"], texture=m["texture"] or "plain", size=m["size"],
                               position=m["position"], offset=(0.0, 0.0), scale=1.0, angle=0.0, shade=1.0)
        for m in parts
    )
    return procedural.Scene(objects, whole["background"], gradient=(1.0, 0.0, 0.0), name="")


def caption_of(scene: procedural.Scene) -> str:
    """The full caption of a scene (the first caption `describe` writes; it draws nothing at random)."""
    return procedural.describe(scene, np.random.default_rng(0), n_captions=1)[0]


def corruptions(caption: str, attribute: str) -> list[str]:
    """Every full caption that differs from `caption` in `attribute` (of exactly one object) and nothing else."""
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; choose from {ATTRIBUTES}")
    scene = parse_caption(caption)
    if attribute == "background":
        return [caption_of(dataclasses.replace(scene, background=b))
                for b in procedural.BACKGROUNDS if b != scene.background]
    taken = {o.position for o in scene.objects}
    changed = []
    for k, obj in enumerate(scene.objects):
        current = getattr(obj, attribute)
        for value in OBJECT_VALUES[attribute]:
            if value == current or (attribute == "position" and value in taken):
                continue
            objects = list(scene.objects)
            objects[k] = dataclasses.replace(obj, **{attribute: value})
            changed.append(caption_of(dataclasses.replace(scene, objects=tuple(objects))))
    return changed


def corrupt(caption: str, attribute: str, rng: np.random.Generator) -> str:
    """One of `corruptions(caption, attribute)`, drawn uniformly with `rng`."""
    options = corruptions(caption, attribute)
    if not options:
        raise ValueError(f"the {attribute} of {caption!r} cannot change (every grid cell is taken)")
    return options[int(rng.integers(len(options)))]
