"""Which prompts a model has memorized, decided by generation only, as Webster labels Stable Diffusion's prompts.

A candidate is a training prompt and the training images it stands for: its own image (matching verbatim, MV, and
unique prompts) or its template family's images (template verbatim, TV). Each candidate is sampled
`generations` times; a generation is a replica when its top-1 training match is one of the candidate's images above
the calibrated threshold. A candidate whose replica rate reaches `MEMORIZED_RATE` is memorized, whatever its kind;
no detector's score enters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copyscope.artifacts.models import TrainedModel
from copyscope.config import Sampling
from copyscope.data.training_set import MV, TV, UNIQUE
from copyscope.metrics.replication import Matches
from copyscope.studies.evaluation import Matcher, generate_and_match

MEMORIZED_RATE = 0.5  # most generations are replicas


@dataclass(frozen=True)
class Candidate:
    prompt: str
    kind: str  # MV, TV or UNIQUE
    images: tuple[int, ...]  # training indices whose copy counts as a replica


def duplicated_candidates(trained: TrainedModel) -> list[Candidate]:
    """Every MV prompt (its own image) and every TV family (the shared prompt, any member's image)."""
    kinds, prompts = trained.duplication_kind, trained.prompts
    out = [Candidate(prompts[i], MV, (i,)) for i, kind in enumerate(kinds) if kind == MV]
    families: dict[int, list[int]] = {}
    for i, kind in enumerate(kinds):
        if kind == TV:
            families.setdefault(trained.family[i], []).append(i)
    out += [Candidate(prompts[members[0]], TV, tuple(members)) for members in families.values()]
    return out


def unique_candidates(trained: TrainedModel, n: int, rng: np.random.Generator) -> list[Candidate]:
    """A seeded sample of n unique (not duplicated) training prompts, each with its own image."""
    unique = np.flatnonzero(np.asarray(trained.duplication_kind) == UNIQUE)
    chosen = np.sort(rng.choice(unique, size=min(n, len(unique)), replace=False))
    return [Candidate(trained.prompts[i], UNIQUE, (int(i),)) for i in chosen]


@dataclass
class Verified:
    candidates: list[Candidate]
    replica_rate: np.ndarray  # per candidate
    generations: int

    @property
    def memorized(self) -> np.ndarray:
        return self.replica_rate >= MEMORIZED_RATE


def replica_rates(trained: TrainedModel, training_images: np.ndarray, prompts: list[str],
                  images: list[tuple[int, ...]], generations: int, matcher: Matcher, threshold: float, seed: int,
                  sampling: Sampling) -> np.ndarray:
    """Per prompt, the fraction of its `generations` whose top-1 match is one of its images above `threshold`."""
    asked = [p for p in prompts for _ in range(generations)]
    matches = generate_and_match(trained, training_images, asked, matcher, seed, sampling).matches
    return replica_hits(matches, images, generations, threshold).mean(axis=1)


def replica_hits(matches: Matches, images: list[tuple[int, ...]], generations: int, threshold: float) -> np.ndarray:
    """(prompts, generations) booleans: generation g of prompt k (row k * generations + g of `matches`) has its
    top-1 match among `images[k]`, above `threshold`."""
    hits = [matches.indices[k] in images[k // generations] and matches.scores[k] > threshold
            for k in range(len(images) * generations)]
    return np.asarray(hits, dtype=bool).reshape(len(images), generations)


def verify(trained: TrainedModel, training_images: np.ndarray, candidates: list[Candidate], generations: int,
           matcher: Matcher, threshold: float, seed: int, sampling: Sampling) -> Verified:
    """Sample every candidate and measure its replica rate."""
    rates = replica_rates(trained, training_images, [c.prompt for c in candidates], [c.images for c in candidates],
                          generations, matcher, threshold, seed, sampling)
    return Verified(candidates, rates, generations)
