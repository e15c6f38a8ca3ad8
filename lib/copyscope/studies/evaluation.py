"""The one generate → embed → match path every study uses, and paper B's evaluation of a model on its training
captions (copying, quality, alignment) built on it.

`generate_and_match` samples a trained model, embeds the generations and the training images with one extractor and
finds each generation's top-1 training match (and each training image's nearest other one, the train-vs-train
reference). A `Matcher` says how images are compared: the extractor's global descriptors by dot product (the
default), or paper A's split product over the extractor's tokens.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from copyscope.artifacts.models import TrainedModel
from copyscope.config import Sampling
from copyscope.embed.similarity import split_product_similarity
from copyscope.metrics.copying import CopyingScores
from copyscope.metrics.replication import Matches, best_matches, frechet_distance, nearest_training, train_vs_train
from copyscope.sampling import Guidance, Prepare, generate

SIMILARITIES = ("dot", "split_product")


@dataclass
class Matched:
    """Generations with their top-1 training matches, and the train-vs-train reference, in one extractor's space."""

    generations: np.ndarray
    matches: Matches  # each generation's nearest training image
    baseline: Matches  # each training image's nearest other training image
    generation_embeddings: np.ndarray
    training_embeddings: np.ndarray
    seconds: float = 0.0  # wall-clock of sampling the generations

    @cached_property
    def frechet(self) -> float:
        """Fréchet distance between generations and training images in extractor space (lower = closer; computed
        once: a matrix square root in the extractor's dimension)."""
        return frechet_distance(self.generation_embeddings, self.training_embeddings)


@dataclass(frozen=True)
class Matcher:
    """An extractor and the similarity that ranks training images for a generation: "dot" (inner product of the
    L2-normalised descriptors) or "split_product" (paper A: the best of `split_chunks` same-position token groups,
    for local copies; needs the extractor's `tokens()`)."""

    extractor: Callable[[np.ndarray], np.ndarray]
    similarity: str = "dot"
    split_chunks: int = 4

    def __post_init__(self) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")

    def match(self, generations: np.ndarray, training_images: np.ndarray, seconds: float = 0.0) -> Matched:
        """Embed both sets and find each generation's top-1 training image and each training image's nearest other."""
        gen_emb, train_emb = self.extractor(generations), self.extractor(training_images)
        if self.similarity == "dot":
            return Matched(generations, nearest_training(gen_emb, train_emb), train_vs_train(train_emb), gen_emb,
                           train_emb, seconds)
        gen_tokens, train_tokens = self.extractor.tokens(generations), self.extractor.tokens(training_images)
        return Matched(
            generations, best_matches(split_product_similarity(gen_tokens, train_tokens, self.split_chunks)),
            best_matches(split_product_similarity(train_tokens, train_tokens, self.split_chunks), exclude_self=True),
            gen_emb, train_emb, seconds,
        )


def generate_and_match(trained: TrainedModel, training_images: np.ndarray, prompts: list[str], matcher: Matcher,
                       seed: int, sampling: Sampling, guidance: Guidance | None = None,
                       prepare: Prepare | None = None) -> Matched:
    """One seeded generation per prompt (DDIM as `sampling` says; `guidance` and `prepare` for inference-time
    mitigations), matched against the training images."""
    start = time.perf_counter()
    images = generate(trained.model, prompts, seed=seed, steps=sampling.steps,
                      guidance=sampling.guidance if guidance is None else guidance, batch_size=sampling.batch_size,
                      prepare=prepare, progress=False)
    return matcher.match(images, training_images, time.perf_counter() - start)


@dataclass
class Evaluation:
    """One model (or one inference-time variant of it) against its training set."""

    prompts: list[str]  # the prompts the generations were asked for (before any prompt-changing mitigation)
    generated: Matched
    copying: CopyingScores
    nearest: np.ndarray  # each generation's nearest training image
    alignment: np.ndarray | None  # per generation, against its prompt; None where prompts describe nothing

    @property
    def generations(self) -> np.ndarray:
        return self.generated.generations

    @property
    def baseline(self) -> Matches:
        return self.generated.baseline

    @property
    def seconds_per_image(self) -> float:
        return self.generated.seconds / len(self.prompts)

    def row(self) -> dict:
        """The metrics of one table row (deterministic: no wall-clock)."""
        row = self.copying.summary()
        row["frechet_distance"] = self.generated.frechet
        row["alignment"] = None if self.alignment is None else float(np.mean(self.alignment))
        return row


def prompt_plan(trained: TrainedModel, per_item: int) -> tuple[list[str], np.ndarray]:
    """`per_item` generations for every training item, prompted with its training caption (paper B)."""
    items = np.repeat(np.arange(len(trained.prompts)), per_item)
    return [trained.prompts[i] for i in items], items


def evaluate(
    trained: TrainedModel,
    training_images: np.ndarray,
    matcher: Matcher,
    threshold: float,
    per_item: int,
    seed: int,
    sampling: Sampling,
    alignment: Callable[[np.ndarray, list[str]], np.ndarray] | None = None,
    rewrite_prompts: Callable[[list[str]], list[str]] | None = None,
    guidance: Guidance | None = None,
    prepare: Prepare | None = None,
) -> Evaluation:
    """Generate `per_item` images per training caption, then score them against the training set.

    `rewrite_prompts` (prompt-changing mitigations) alters what the model is asked; alignment is still measured
    against the original prompt. `alignment` is skipped for models whose prompts carry no description.
    """
    prompts, items = prompt_plan(trained, per_item)
    asked = rewrite_prompts(prompts) if rewrite_prompts is not None else prompts
    generated = generate_and_match(trained, training_images, asked, matcher, seed, sampling, guidance, prepare)
    copying = CopyingScores(generated.matches, items, trained.duplicated, threshold)
    descriptive = trained.record["caption_kind"] == "instance"
    return Evaluation(
        prompts=prompts, generated=generated, copying=copying, nearest=training_images[generated.matches.indices],
        alignment=alignment(generated.generations, prompts) if alignment is not None and descriptive else None,
    )
