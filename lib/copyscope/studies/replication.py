"""Paper A's measurement for one model: generate, embed, search the training set, compare with train-vs-train."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copyscope.metrics.replication import Matches, frechet_distance, nearest_training, summarize, train_vs_train
from copyscope.sampling import generate
from copyscope.stages import TrainedModel


@dataclass
class Replication:
    """Generations of one model against its training set, in one extractor's space."""

    generations: np.ndarray
    prompts: list[str]
    training_images: np.ndarray
    generated: Matches  # each generation's nearest training image
    baseline: Matches  # each training image's nearest other training image
    frechet: float
    threshold: float

    def metrics(self) -> dict:
        return {
            "generations": summarize(self.generated.scores, self.threshold),
            "train_vs_train": summarize(self.baseline.scores, self.threshold),
            "frechet_distance": self.frechet,
            "threshold": self.threshold,
        }


def prompts_for(trained: TrainedModel, n: int) -> list[str]:
    """n generation prompts: the model's training prompts in order, cycled (paper B samples training captions)."""
    prompts = trained.prompts
    return [prompts[i % len(prompts)] for i in range(n)]


def measure(trained: TrainedModel, training_images: np.ndarray, extractor, threshold: float, n_generations: int,
            seed: int, steps: int, guidance: float, batch_size: int = 256) -> Replication:
    """Generate n_generations images from training prompts and score them against the training images."""
    prompts = prompts_for(trained, n_generations)
    images = generate(trained.model, prompts, seed=seed, steps=steps, guidance=guidance, batch_size=batch_size)
    gen_emb, train_emb = extractor(images), extractor(training_images)
    return Replication(
        generations=images, prompts=prompts, training_images=training_images,
        generated=nearest_training(gen_emb, train_emb), baseline=train_vs_train(train_emb),
        frechet=frechet_distance(gen_emb, train_emb), threshold=threshold,
    )
