"""Paper A: measure each model's generations against its training set, and replication against training-set size."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from copyscope.metrics.replication import Matches, frechet_distance, nearest_training, summarize, train_vs_train
from copyscope.sampling import generate
from copyscope.stages import TrainedModel
from copyscope.studies.evaluation import load_with_training_images


@dataclass
class Replication:
    """Generations of one model against its training set, in one extractor's space."""

    name: str
    n_train: int
    generations: np.ndarray
    training_images: np.ndarray
    generated: Matches  # each generation's nearest training image
    baseline: Matches  # each training image's nearest other training image
    frechet: float
    threshold: float

    def metrics(self) -> dict:
        gen, base = summarize(self.generated.scores, self.threshold), summarize(self.baseline.scores, self.threshold)
        return {
            "model": self.name, "n_train": self.n_train, "replica_fraction": gen["fraction_above_threshold"],
            "similarity_p95": gen["p95"], "similarity_mean": gen["mean"], "similarity_max": gen["max"],
            "train_vs_train_fraction": base["fraction_above_threshold"], "train_vs_train_p95": base["p95"],
            "train_vs_train_mean": base["mean"], "frechet_distance": self.frechet, "n_generations": gen["n"],
        }


def prompts_for(trained: TrainedModel, n: int) -> list[str]:
    """n generation prompts: the model's training prompts in order, cycled ("" for unconditional models)."""
    prompts = trained.prompts
    return [prompts[i % len(prompts)] for i in range(n)]


def measure(name: str, extractor, threshold: float, n_generations: int, seed: int, steps: int, guidance: float,
            batch_size: int = 256) -> Replication:
    """Generate n_generations images from model `name` and score them against its training images."""
    trained, training_images = load_with_training_images(name)
    images = generate(trained.model, prompts_for(trained, n_generations), seed=seed, steps=steps,
                      guidance=guidance, batch_size=batch_size, progress=False)
    gen_emb, train_emb = extractor(images), extractor(training_images)
    return Replication(
        name=name, n_train=len(training_images), generations=images, training_images=training_images,
        generated=nearest_training(gen_emb, train_emb), baseline=train_vs_train(train_emb),
        frechet=frechet_distance(gen_emb, train_emb), threshold=threshold,
    )


def size_trend(table: pd.DataFrame, column: str = "replica_fraction") -> dict:
    """Does replication fall as the training set grows? Spearman's rank correlation of `column` with n_train, and
    whether each larger set replicates no more than the next smaller one."""
    ordered = table.sort_values("n_train")
    values = ordered[column].to_numpy(dtype=float)
    rho = stats.spearmanr(ordered["n_train"], values).statistic if len(values) > 1 else float("nan")
    return {"spearman_rho": float(rho), "monotone_non_increasing": bool(np.all(np.diff(values) <= 1e-12)),
            "smallest_set": float(values[0]), "largest_set": float(values[-1])}
