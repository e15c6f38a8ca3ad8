"""Scenes whose captions under-determine them, as LAION's do: the benchmark world of the detection and mitigation
studies.

Every scene holds two to `max_objects` objects, each with a shape, colour, texture, size and position, on a
background with a gradient; its captions name only one or two objects by colour and shape, and end with a title
word (", titled kazorvel") drawn from a small pool shared by many images, like a product name. So one short caption
stands for a whole family of different images, and a model that renders one image for it in every detail has
memorized that image.

Template families (Webster's "template verbatim" duplicates) are `family_size` variants of one layout, same objects
in the same places, with every detail the caption leaves unsaid drawn anew (texture, offset, scale, rotation, shade,
background gradient), all under the template's captions. `families[i]` is the family of image i, -1 for a single.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from copyscope.data import procedural
from copyscope.data.procedural import Scene, ShapeObject

TITLE = ", titled "  # separates a caption's description from its title word


def sample_scene(rng: np.random.Generator, max_objects: int) -> Scene:
    """A procedural scene with at least two objects (so a caption naming one leaves the rest unsaid)."""
    if max_objects < 2:
        raise ValueError(f"scenes need max_objects >= 2, got {max_objects}")
    while True:
        scene = procedural.sample_scene(rng, max_objects)
        if len(scene.objects) >= 2:
            return scene


def variant(scene: Scene, rng: np.random.Generator) -> Scene:
    """The same layout (shapes, colours, sizes, positions, background) with every unsaid detail drawn anew."""
    def redraw(obj: ShapeObject) -> ShapeObject:
        return dataclasses.replace(
            obj, texture=str(rng.choice(procedural.TEXTURES)),
            offset=(float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.25, 0.25))),
            scale=float(rng.uniform(0.85, 1.15)), angle=float(rng.uniform(0, 2 * np.pi)),
            shade=float(rng.uniform(0.8, 1.1)))

    angle = rng.uniform(0, 2 * np.pi)
    gradient = (float(np.cos(angle)), float(np.sin(angle)), float(rng.uniform(0.0, 0.35)))
    return dataclasses.replace(scene, objects=tuple(redraw(o) for o in scene.objects), gradient=gradient)


def brief_captions(scene: Scene, title: str, rng: np.random.Generator, n_captions: int) -> list[str]:
    """Short captions naming the main object (and sometimes a second) by colour and shape, each with the title."""
    main, others = scene.objects[0], scene.objects[1:]

    def name(obj: ShapeObject) -> str:
        return f"{'an' if obj.color[0] in 'aeiou' else 'a'} {obj.color} {obj.shape}"

    captions = []
    for k in range(n_captions):
        named = [main] if rng.random() < 0.5 else [main, others[int(rng.integers(len(others)))]]
        description = " and ".join(name(o) for o in named)
        captions.append(f"{'a picture of ' if k % 2 else ''}{description}{TITLE}{title}")
    return captions


def generate(n_images: int, resolution: int, seed: int, max_objects: int = 4, n_captions: int = 4,
             families: int = 0, family_size: int = 3, n_titles: int = 64):
    """Draw n_images scenes, the first families × family_size of them in template families: images, masks,
    captions, labels (the main object's shape) and the family of every image (-1: none)."""
    if families * family_size > n_images:
        raise ValueError(f"{families} families of {family_size} do not fit in {n_images} images")
    if not 1 <= n_titles <= procedural.MAX_IMAGES:
        raise ValueError(f"n_titles must be in 1..{procedural.MAX_IMAGES}, got {n_titles}")
    rng = np.random.default_rng(seed)
    titles: list[str] = []
    while len(titles) < n_titles:
        word = procedural.make_name(rng)
        if word not in titles:
            titles.append(word)
    scenes, captions, family = [], [], []
    for f in range(families):
        template = sample_scene(rng, max_objects)
        shared = brief_captions(template, str(rng.choice(titles)), rng, n_captions)
        for _ in range(family_size):
            scenes.append(variant(template, rng))
            captions.append(list(shared))
            family.append(f)
    while len(scenes) < n_images:
        scene = sample_scene(rng, max_objects)
        scenes.append(scene)
        captions.append(brief_captions(scene, str(rng.choice(titles)), rng, n_captions))
        family.append(-1)
    drawn = [procedural.render(s, resolution) for s in scenes]
    images = np.stack([d[0] for d in drawn])
    masks = np.stack([d[1] for d in drawn])
    return images, masks, captions, [s.label for s in scenes], np.asarray(family, dtype=int)
