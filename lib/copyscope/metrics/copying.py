"""Paper B's copying metrics for one model, shared by the conditioning, mitigation and detection studies.

Generations are prompted with training captions (`prompt_items[i]` = the training item generation i was asked
for). Each generation's top-1 similarity to the training set is summarised with `metrics.replication.summarize`
(the dataset similarity score is its p95), overall and restricted to generations prompted by duplicated vs
non-duplicated items.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copyscope.metrics.replication import Matches, summarize


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
        """The copying summary overall, the fraction copying its own prompt's image, and the summary of the
        generations prompted by duplicated items (`duplicated_*`) and by the others (`not_duplicated_*`)."""
        out = summarize(self.matches.scores, self.threshold)
        out["fraction_copying_prompt_item"] = float(self.copies_its_prompt_item.mean())
        dup = self.duplicated[self.prompt_items]
        for name, rows in (("duplicated", dup), ("not_duplicated", ~dup)):
            for key, value in summarize(self.matches.scores[rows], self.threshold).items():
                out[f"{name}_{key}"] = value
        return out
