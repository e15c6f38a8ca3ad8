"""Paper B's copying metrics for one model, shared by the conditioning, mitigation and detection studies.

Generations are prompted with training captions (`prompt_items[i]` = the training item generation i was asked
for). Each generation's top-1 similarity to the training set gives the *dataset similarity score* (95th
percentile), the mean, and the replica fraction (above the calibrated threshold); the same restricted to generations
prompted by duplicated vs non-duplicated items. Fréchet distance in extractor space measures quality; the alignment
score (CLIP score or its offline stand-in) measures whether generations still follow their prompts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copyscope.metrics.replication import Matches, frechet_distance, nearest_training


@dataclass
class CopyingScores:
    """Per-generation results for one model."""

    matches: Matches  # nearest training image of each generation
    prompt_items: np.ndarray  # the training item each generation was prompted with
    duplicated: np.ndarray  # per training item
    threshold: float

    @property
    def replicas(self) -> np.ndarray:
        return self.matches.scores > self.threshold

    @property
    def copies_its_prompt_item(self) -> np.ndarray:
        """A replica of the very image whose caption prompted it (for conditional models)."""
        return self.replicas & (self.matches.indices == self.prompt_items)

    def summary(self) -> dict:
        """Dataset similarity score (p95), mean, replica fraction: overall and by duplicated vs not."""
        out = _stats(self.matches.scores, self.threshold)
        out["fraction_copying_prompt_item"] = float(self.copies_its_prompt_item.mean())
        dup = self.duplicated[self.prompt_items]
        for name, rows in (("duplicated", dup), ("not_duplicated", ~dup)):
            for key, value in _stats(self.matches.scores[rows], self.threshold).items():
                out[f"{name}_{key}"] = value
        return out


def _stats(scores: np.ndarray, threshold: float) -> dict:
    if len(scores) == 0:
        return {"similarity_p95": None, "similarity_mean": None, "replica_fraction": None, "n": 0}
    return {"similarity_p95": float(np.percentile(scores, 95)), "similarity_mean": float(scores.mean()),
            "replica_fraction": float((scores > threshold).mean()), "n": int(len(scores))}


def score_copying(generation_embeddings: np.ndarray, training_embeddings: np.ndarray, prompt_items: np.ndarray,
                  duplicated: np.ndarray, threshold: float) -> CopyingScores:
    return CopyingScores(nearest_training(generation_embeddings, training_embeddings), np.asarray(prompt_items),
                         np.asarray(duplicated, dtype=bool), threshold)


def quality(generation_embeddings: np.ndarray, training_embeddings: np.ndarray) -> float:
    """Fréchet distance between generations and training images in extractor space (lower = closer)."""
    return frechet_distance(generation_embeddings, training_embeddings)
