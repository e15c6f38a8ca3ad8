"""What a model trains on: which images, with which captions, and which of them are duplicated.

Paper B varies the caption kind (none = one fixed caption, class-level, instance-level, a random token string per
image) and up-weights a fraction of the images: either image and caption together, or the image alone (each draw
then picks one of its several captions). Unconditional training is the same model fed the empty prompt.

On a dataset with template families (`copyscope.data.scenes`), the duplicated images are drawn among the singles
("matching verbatim" duplicates, MV), and every family member in the set is up-weighted by `template_factor`
("template verbatim", TV: one caption, one layout, varied details), as Webster labels Stable Diffusion's copies.
"""
from __future__ import annotations

import functools

import numpy as np

from copyscope.config import Duplication
from copyscope.data.dataset import ImageCaptionSet
from copyscope.models.tokenizer import word_tokens

CAPTION_KINDS = ("unconditional", "none", "class", "instance", "random")
MV, TV, UNIQUE = "matching verbatim", "template verbatim", "unique"
FIXED_CAPTION = "An image"


@functools.lru_cache(maxsize=1)
def _word_array() -> np.ndarray:
    return np.asarray(word_tokens())  # converted once: choosing from the tuple converts it on every call


def random_token_caption(rng: np.random.Generator, n_tokens: int) -> str:
    """A string of `n_tokens` random words from the CLIP vocabulary (special tokens excluded)."""
    return " ".join(rng.choice(_word_array(), size=n_tokens))


def class_caption(label: str) -> str:
    article = "an" if label[:1].lower() in "aeiou" else "a"
    return f"An image of {article} {label}"


class TrainingSet:
    """Images with their caption candidates and sampling weights; `draw` gives a seeded batch."""

    def __init__(self, data: ImageCaptionSet, caption_kind: str, duplication: Duplication = Duplication(),
                 multiple_captions: bool = False, seed: int = 0, random_caption_tokens: int = 8):
        if caption_kind not in CAPTION_KINDS:
            raise ValueError(f"caption kind must be one of {CAPTION_KINDS}, got {caption_kind!r}")
        self.data, self.caption_kind, self.duplication = data, caption_kind, duplication
        n = len(data)
        rng = np.random.default_rng([seed, 1])
        family = data.families if data.families is not None else np.full(n, -1)
        self.templates = (family >= 0) & (duplication.template_factor > 1)
        singles = np.flatnonzero(family < 0)
        self.duplicated = np.zeros(n, dtype=bool)
        self.duplicated[rng.choice(singles, size=int(round(duplication.fraction * len(singles))), replace=False)] = True
        self.weights = np.where(self.duplicated, float(duplication.factor),
                                np.where(self.templates, float(duplication.template_factor), 1.0))
        self.weights /= self.weights.sum()
        random_captions = [random_token_caption(rng, random_caption_tokens) for _ in range(n)]
        self.candidates = [
            self._candidates(i, random_captions[i], multiple_captions) for i in range(n)
        ]

    def _candidates(self, i: int, random_caption: str, multiple: bool) -> list[str]:
        kind = self.caption_kind
        if kind == "unconditional":
            return [""]
        if kind == "none":
            return [FIXED_CAPTION]
        if kind == "class":
            return [class_caption(self.data.labels[i])]
        if kind == "random":
            return [random_caption]
        image_only = self.duplicated[i] and self.duplication.mode == "image"
        return list(self.data.captions[i]) if multiple or image_only else [self.data.captions[i][0]]

    def __len__(self) -> int:
        return len(self.data)

    def duplication_kind(self) -> list[str]:
        """Per image: MV (duplicated with its caption), TV (a template-family member) or unique."""
        return [MV if d else TV if t else UNIQUE for d, t in zip(self.duplicated, self.templates)]

    def prompt(self, i: int) -> str:
        """The caption used to ask the model for image i (the first candidate)."""
        return self.candidates[i][0]

    def draw(self, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, list[str]]:
        """Image indices drawn with replacement by weight, each with one of its caption candidates."""
        indices = rng.choice(len(self), size=batch_size, p=self.weights)
        captions = [self.candidates[i][rng.integers(len(self.candidates[i]))] for i in indices]
        return indices, captions
