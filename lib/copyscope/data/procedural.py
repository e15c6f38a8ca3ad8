"""Procedural caption dataset: composed shapes whose captions describe some, not all, of each image.

Every image is a background plus one to `max_objects` objects, each with a shape, colour, texture, size and grid
position that the captions name, and nuisance details that they do not (exact offset, scale, rotation, shade and a
background gradient). A model that reproduces those undescribed details for a caption has memorized the image; one
that only renders what the caption says has not. Rendering is deterministic in (seed, index), supersampled for
anti-aliasing, and keeps one instance mask per image (0 = background, k = k-th object).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("circle", "square", "triangle", "diamond", "cross", "ring")
COLORS = {
    "red": (215, 45, 40), "green": (45, 165, 70), "blue": (45, 90, 215), "yellow": (235, 200, 45),
    "purple": (145, 65, 185), "orange": (240, 135, 35), "white": (238, 238, 232), "black": (30, 30, 35),
}
TEXTURES = ("plain", "striped", "dotted", "checkered")
SIZES = {"small": 0.22, "large": 0.34}  # object radius as a fraction of the image side
BACKGROUNDS = {"gray": (128, 128, 128), "beige": (214, 200, 165), "teal": (40, 120, 125), "navy": (30, 40, 85)}
POSITIONS = {
    "top left": (0, 0), "top": (0, 1), "top right": (0, 2),
    "left": (1, 0), "center": (1, 1), "right": (1, 2),
    "bottom left": (2, 0), "bottom": (2, 1), "bottom right": (2, 2),
}
_SYLLABLES = (
    "ka", "zor", "vel", "mi", "tru", "pan", "dex", "lo", "ques", "rin", "bo", "sha",
    "tek", "nu", "fa", "gri", "hol", "wen", "jo", "pix", "dra", "sul", "ne", "yam",
)
MAX_IMAGES = len(_SYLLABLES) ** 3 // 2  # keeps rejection sampling of unique names fast


@dataclass(frozen=True)
class ShapeObject:
    """One object: the attributes captions name, then the nuisance details they never mention."""

    shape: str
    color: str
    texture: str
    size: str
    position: str
    offset: tuple[float, float]  # jitter inside the grid cell, fraction of a cell
    scale: float  # multiplies the named size
    angle: float  # radians
    shade: float  # brightness multiplier of the colour

    def phrase(self, with_texture: bool = True) -> str:
        texture = f"{self.texture} " if with_texture and self.texture != "plain" else ""
        return f"a {self.size} {self.color} {texture}{self.shape}"


@dataclass(frozen=True)
class Scene:
    """Everything needed to draw and caption one image."""

    objects: tuple[ShapeObject, ...]
    background: str
    gradient: tuple[float, float, float]  # direction (2) and strength of the undescribed background gradient
    name: str  # a made-up title word, unique per dataset, used when captions carry identifiers

    @property
    def label(self) -> str:
        """The class of the image: the shape of its first (main) object."""
        return self.objects[0].shape


def make_name(rng: np.random.Generator) -> str:
    """A pronounceable made-up word of three syllables, like a product name or title."""
    return "".join(rng.choice(_SYLLABLES, size=3))


def sample_scene(rng: np.random.Generator, max_objects: int) -> Scene:
    """Draw a scene with 1..max_objects objects at distinct grid positions."""
    n = int(rng.integers(1, max_objects + 1))
    positions = rng.choice(list(POSITIONS), size=n, replace=False)
    objects = tuple(
        ShapeObject(
            shape=str(rng.choice(SHAPES)), color=str(rng.choice(list(COLORS))), texture=str(rng.choice(TEXTURES)),
            size=str(rng.choice(list(SIZES))), position=str(p),
            offset=(float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.25, 0.25))),
            scale=float(rng.uniform(0.85, 1.15)), angle=float(rng.uniform(0, 2 * np.pi)),
            shade=float(rng.uniform(0.8, 1.1)),
        )
        for p in positions
    )
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (float(np.cos(angle)), float(np.sin(angle)), float(rng.uniform(0.0, 0.35)))
    return Scene(objects, str(rng.choice(list(BACKGROUNDS))), gradient, make_name(rng))


def _object_mask(obj: ShapeObject, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean coverage of an object on a grid of image coordinates u (x) and v (y) in [0, 1]."""
    row, col = POSITIONS[obj.position]
    cx = (col + 0.5 + obj.offset[0]) / 3
    cy = (row + 0.5 + obj.offset[1]) / 3
    r = SIZES[obj.size] * obj.scale / 1.5
    c, s = np.cos(obj.angle), np.sin(obj.angle)
    x = ((u - cx) * c + (v - cy) * s) / r
    y = (-(u - cx) * s + (v - cy) * c) / r
    if obj.shape == "circle":
        return x**2 + y**2 <= 1
    if obj.shape == "ring":
        d = x**2 + y**2
        return (d <= 1) & (d >= 0.4)
    if obj.shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) <= 0.8
    if obj.shape == "diamond":
        return np.abs(x) + np.abs(y) <= 1.05
    if obj.shape == "cross":
        return ((np.abs(x) <= 0.33) & (np.abs(y) <= 1)) | ((np.abs(y) <= 0.33) & (np.abs(x) <= 1))
    if obj.shape == "triangle":
        return (y <= 0.5) & (y >= 2 * np.abs(x) - 1)
    raise ValueError(f"unknown shape {obj.shape!r}")


def _texture(obj: ShapeObject, u: np.ndarray, v: np.ndarray, resolution: int) -> np.ndarray:
    """Per-pixel brightness factor of the object's texture (1 = colour, <1 = darker pattern)."""
    period = max(4.0, resolution / 5) / resolution
    c, s = np.cos(obj.angle), np.sin(obj.angle)
    a = (u * c + v * s) / period
    b = (-u * s + v * c) / period
    if obj.texture == "plain":
        return np.ones_like(u)
    if obj.texture == "striped":
        return np.where(np.floor(a * 2) % 2 == 0, 1.0, 0.45)
    if obj.texture == "checkered":
        return np.where((np.floor(a) + np.floor(b)) % 2 == 0, 1.0, 0.45)
    if obj.texture == "dotted":
        return np.where((a % 1 - 0.5) ** 2 + (b % 1 - 0.5) ** 2 <= 0.08, 0.35, 1.0)
    raise ValueError(f"unknown texture {obj.texture!r}")


def render(scene: Scene, resolution: int, supersample: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Draw a scene: an (R, R, 3) uint8 image and an (R, R) uint8 instance mask."""
    n = resolution * supersample
    v, u = np.mgrid[0:n, 0:n].astype(np.float64)
    u, v = (u + 0.5) / n, (v + 0.5) / n
    gx, gy, strength = scene.gradient
    ramp = 1 + strength * ((u - 0.5) * gx + (v - 0.5) * gy)
    image = np.asarray(BACKGROUNDS[scene.background], np.float64)[None, None, :] * ramp[..., None]
    labels = np.zeros((n, n), np.uint8)
    for k, obj in enumerate(scene.objects, start=1):
        mask = _object_mask(obj, u, v)
        color = np.asarray(COLORS[obj.color], np.float64) * obj.shade
        shaded = color[None, None, :] * _texture(obj, u, v, resolution)[..., None]
        image = np.where(mask[..., None], shaded, image)
        labels[mask] = k
    image = image.reshape(resolution, supersample, resolution, supersample, 3).mean(axis=(1, 3))
    blocks = labels.reshape(resolution, supersample, resolution, supersample).transpose(0, 2, 1, 3)
    counts = np.stack([(blocks == k).sum(axis=(2, 3)) for k in range(len(scene.objects) + 1)])
    return np.clip(image, 0, 255).round().astype(np.uint8), counts.argmax(axis=0).astype(np.uint8)


def describe(scene: Scene, rng: np.random.Generator, n_captions: int) -> list[str]:
    """Captions of a scene: the first is the full instance caption, the others paraphrase or leave out details."""
    def part(obj: ShapeObject, with_texture: bool) -> str:
        return f"{obj.phrase(with_texture)} at the {obj.position}"

    full = " and ".join(part(o, True) for o in scene.objects) + f" on a {scene.background} background"
    captions = [full]
    templates = (
        lambda objs: ", ".join(part(o, False) for o in objs),
        lambda objs: "a picture of " + " and ".join(o.phrase(True) for o in objs),
        lambda objs: f"{scene.background} background with " + " and ".join(part(o, True) for o in objs),
        lambda objs: " and ".join(f"{o.color} {o.shape}" for o in objs) + f" on {scene.background}",
    )
    while len(captions) < n_captions:
        objs = list(scene.objects)
        rng.shuffle(objs)
        captions.append(templates[(len(captions) - 1) % len(templates)](objs))
    return captions[:n_captions]


def generate(n_images: int, resolution: int, seed: int, max_objects: int = 3, n_captions: int = 4):
    """Draw n_images distinct scenes: images, masks, captions, labels and unique title words."""
    if not 1 <= n_images <= MAX_IMAGES:
        raise ValueError(f"n_images must be in 1..{MAX_IMAGES}, got {n_images}")
    rng = np.random.default_rng(seed)
    scenes: list[Scene] = []
    names: set[str] = set()
    while len(scenes) < n_images:
        scene = sample_scene(rng, max_objects)
        if scene.name in names:
            continue
        names.add(scene.name)
        scenes.append(scene)
    drawn = [render(s, resolution) for s in scenes]
    images = np.stack([d[0] for d in drawn])
    masks = np.stack([d[1] for d in drawn])
    captions = [describe(s, rng, n_captions) for s in scenes]
    return images, masks, captions, [s.label for s in scenes], [s.name for s in scenes]
