"""Generate from a trained model's training prompts and measure copying, quality and alignment in one call."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from copyscope import paths
from copyscope.data.dataset import ImageCaptionSet
from copyscope.metrics.copying import CopyingScores, quality, score_copying
from copyscope.metrics.replication import Matches, train_vs_train
from copyscope.sampling import Guidance, Prepare, generate
from copyscope.stages import TrainedModel, load_trained


@dataclass
class Evaluation:
    """One model (or one inference-time variant of it) against its training set."""

    generations: np.ndarray
    prompts: list[str]  # the prompts the generations were asked for (before any prompt-changing mitigation)
    copying: CopyingScores
    matched: np.ndarray  # each generation's nearest training image
    baseline: Matches  # each training image's nearest other training image (train vs train)
    frechet: float
    alignment: np.ndarray | None  # per generation, against its prompt; None where prompts describe nothing
    seconds: float
    extra: dict = field(default_factory=dict)

    def row(self) -> dict:
        """The metrics of one table row."""
        row = self.copying.summary()
        row["frechet_distance"] = self.frechet
        row["alignment"] = None if self.alignment is None else float(np.mean(self.alignment))
        row["seconds_per_image"] = self.seconds / len(self.generations)
        return {**row, **self.extra}


def load_with_training_images(name: str) -> tuple[TrainedModel, np.ndarray]:
    """A trained model and the (unique) images it trained on, in its training order."""
    trained = load_trained(name)
    data = ImageCaptionSet.load(paths.dataset_dir(trained.record["dataset"]))
    return trained, trained.training_images(data)


def prompt_plan(trained: TrainedModel, per_item: int) -> tuple[list[str], np.ndarray]:
    """`per_item` generations for every training item, prompted with its training caption (paper B)."""
    items = np.repeat(np.arange(len(trained.prompts)), per_item)
    return [trained.prompts[i] for i in items], items


def evaluate(
    trained: TrainedModel,
    training_images: np.ndarray,
    extractor: Callable[[np.ndarray], np.ndarray],
    threshold: float,
    per_item: int,
    seed: int,
    steps: int,
    guidance: Guidance,
    batch_size: int = 256,
    alignment: Callable[[np.ndarray, list[str]], np.ndarray] | None = None,
    rewrite_prompts: Callable[[list[str]], list[str]] | None = None,
    prepare: Prepare | None = None,
) -> Evaluation:
    """Generate, then score against the training set.

    `rewrite_prompts` (prompt-changing mitigations) alters what the model is asked; alignment is still measured
    against the original prompt. `alignment` is skipped for models whose prompts carry no description.
    """
    prompts, items = prompt_plan(trained, per_item)
    asked = rewrite_prompts(prompts) if rewrite_prompts is not None else prompts
    start = time.perf_counter()
    images = generate(trained.model, asked, seed=seed, steps=steps, guidance=guidance, batch_size=batch_size,
                      prepare=prepare, progress=False)
    seconds = time.perf_counter() - start
    gen_emb, train_emb = extractor(images), extractor(training_images)
    copying = score_copying(gen_emb, train_emb, items, trained.duplicated, threshold)
    descriptive = trained.record["caption_kind"] == "instance"
    return Evaluation(
        generations=images, prompts=prompts, copying=copying, matched=training_images[copying.matches.indices],
        baseline=train_vs_train(train_emb), frechet=quality(gen_emb, train_emb),
        alignment=alignment(images, prompts) if alignment is not None and descriptive else None, seconds=seconds,
    )
