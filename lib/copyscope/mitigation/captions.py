"""Caption perturbations of Somepalli et al. 2023b ("Understanding and Mitigating Copying", paper B).

Each perturbation acts, with probability `p`, on every caption of a batch that has a word; the empty caption (the
unconditional prompt of classifier-free guidance) is never touched. At training time they are the `captions`
hook with p = 0.1; at inference time the same objects with p = 1 rewrite every prompt.

Counts follow the official code (github.com/somepago/DCR): training inserts two random tokens (RT) or two caption
words (CWR) and replaces the caption by four random tokens (RC); inference inserts four of each. Every insertion
goes to a uniformly random word boundary, one after the other; random numbers are drawn from [0, 100000) (the
official code adds numbers at inference only; training RNA here inserts two, like RT and CWR). Random tokens are
whole words of the CLIP vocabulary (`word_tokens`), each encoding to exactly one token, where the official code
decoded random ids that may be word pieces.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from copyscope.data.training_set import random_token_caption

INSERT, REPLACE = "insert", "replace"


def insert_words(caption: str, words: Sequence[str], rng: np.random.Generator) -> str:
    """Insert each of `words`, in turn, at a uniformly random boundary between the caption's words."""
    tokens = caption.split()
    for word in words:
        tokens.insert(int(rng.integers(len(tokens) + 1)), word)
    return " ".join(tokens)


@dataclass(frozen=True)
class CaptionPerturbation:
    """Perturb each caption that has a word with probability `p`; subclasses say how."""

    p: float = 0.1
    counts: ClassVar[tuple[str, ...]] = ()  # the fields that must be at least 1

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"{name}: probability p must be in [0, 1], got {self.p}")
        for field in self.counts:
            if getattr(self, field) < 1:
                raise ValueError(f"{name}: {field} must be at least 1, got {getattr(self, field)}")

    def __call__(self, captions: list[str], rng: np.random.Generator) -> list[str]:
        return [self.perturb(c, rng) if c.strip() and rng.random() < self.p else c for c in captions]

    def perturb(self, caption: str, rng: np.random.Generator) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class RandomCaption(CaptionPerturbation):
    """RC (paper B): replace the caption by a string of `n_tokens` random vocabulary words."""

    n_tokens: int = 4
    counts: ClassVar[tuple[str, ...]] = ("n_tokens",)

    def perturb(self, caption: str, rng: np.random.Generator) -> str:
        return random_token_caption(rng, self.n_tokens)


@dataclass(frozen=True)
class RandomTokens(CaptionPerturbation):
    """RT (paper B): insert `n_tokens` random vocabulary words at random places (`mode="insert"`, the official
    code's choice and the inference-time "random token addition"), or substitute them for `n_tokens` randomly chosen
    words of the caption (`mode="replace"`; all words when the caption is shorter)."""

    n_tokens: int = 2
    mode: str = INSERT
    counts: ClassVar[tuple[str, ...]] = ("n_tokens",)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in (INSERT, REPLACE):
            raise ValueError(f"RandomTokens: mode must be {INSERT!r} or {REPLACE!r}, got {self.mode!r}")

    def perturb(self, caption: str, rng: np.random.Generator) -> str:
        if self.mode == INSERT:
            return insert_words(caption, random_token_caption(rng, self.n_tokens).split(), rng)
        words = caption.split()
        chosen = rng.choice(len(words), size=min(self.n_tokens, len(words)), replace=False)
        for position, token in zip(chosen, random_token_caption(rng, len(chosen)).split()):
            words[position] = token
        return " ".join(words)


@dataclass(frozen=True)
class CaptionWordRepetition(CaptionPerturbation):
    """CWR (paper B): insert `n_words` words drawn (with replacement) from the caption at random places."""

    n_words: int = 2
    counts: ClassVar[tuple[str, ...]] = ("n_words",)

    def perturb(self, caption: str, rng: np.random.Generator) -> str:
        words = caption.split()
        return insert_words(caption, [words[i] for i in rng.integers(len(words), size=self.n_words)], rng)


@dataclass(frozen=True)
class RandomNumbers(CaptionPerturbation):
    """RNA (paper B): insert `n_numbers` random integers from [0, `high`) at random places."""

    n_numbers: int = 2
    high: int = 100_000
    counts: ClassVar[tuple[str, ...]] = ("n_numbers", "high")

    def perturb(self, caption: str, rng: np.random.Generator) -> str:
        return insert_words(caption, [str(n) for n in rng.integers(self.high, size=self.n_numbers)], rng)
