"""Paper C's benchmark with ground truth: which prompts are memorized, verified by generation, against clean prompts
of three kinds; every detector scored on the same prompts; token attribution checked by editing.

Memorized = duplicated training prompts whose generations are mostly replicas of their own training image (top-1
match above the calibrated threshold). Clean groups, reported separately: unique (non-duplicated) training prompts,
novel prompts of the same grammar (images outside the training set), random-token prompts. Duplicated prompts that
were not verified are left out of the leaderboard.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.training_set import random_token_caption
from copyscope.detection.common import DetectorScores
from copyscope.detection.metrics import detection_metrics, leaderboard
from copyscope.metrics.replication import nearest_training
from copyscope.sampling import generate
from copyscope.stages import TrainedModel

MEMORIZED, UNVERIFIED = "memorized", "duplicated, not verified"
CLEAN = ("unique training", "novel", "random tokens")


@dataclass
class DetectionBenchmark:
    prompts: list[str]
    groups: np.ndarray  # per prompt: MEMORIZED, UNVERIFIED or one of CLEAN
    replica_rate: np.ndarray  # per prompt: fraction of verification generations that copy its own training image
    # (NaN for prompts that have no training image)

    @property
    def scored(self) -> np.ndarray:
        """The prompts the leaderboard uses: memorized and clean."""
        return self.groups != UNVERIFIED

    @property
    def memorized(self) -> np.ndarray:
        return self.groups == MEMORIZED

    def unverified_as_memorized(self) -> "DetectionBenchmark":
        """Where no duplicated prompt was verified (e.g. the tiny smoke models), all duplicated prompts as positives:
        the leaderboard then measures detection of duplication, not of memorization, and must say so."""
        return DetectionBenchmark(self.prompts, np.where(self.groups == UNVERIFIED, MEMORIZED, self.groups),
                                  self.replica_rate)

    def design(self) -> dict:
        """How many prompts of each group, and the replica rates that justify the labels."""
        out = {"prompts": {g: int((self.groups == g).sum()) for g in (MEMORIZED, UNVERIFIED, *CLEAN)}}
        duplicated = np.isin(self.groups, (MEMORIZED, UNVERIFIED))
        out["replica_rate_duplicated"] = float(np.nanmean(self.replica_rate[duplicated]))
        out["replica_rate_unique_training"] = float(np.nanmean(self.replica_rate[self.groups == CLEAN[0]]))
        return out


def replica_rate(trained: TrainedModel, training_images: np.ndarray, items: np.ndarray, prompts: list[str],
                 extractor: Callable, threshold: float, generations: int, seed: int, steps: int, guidance: float,
                 batch_size: int) -> np.ndarray:
    """Per prompt, the fraction of its `generations` whose top-1 match is its own training item `items[i]`, above
    the threshold."""
    asked = [p for p in prompts for _ in range(generations)]
    images = generate(trained.model, asked, seed=seed, steps=steps, guidance=guidance, batch_size=batch_size,
                      progress=False)
    matches = nearest_training(extractor(images), extractor(training_images))
    own = (matches.indices == np.repeat(items, generations)) & (matches.scores > threshold)
    return own.reshape(len(prompts), generations).mean(axis=1)


def build_benchmark(trained: TrainedModel, training_images: np.ndarray, data: ImageCaptionSet, extractor: Callable,
                    threshold: float, n_prompts: int, verify_generations: int, seed: int, steps: int,
                    guidance: float, batch_size: int) -> DetectionBenchmark:
    """Label the duplicated prompts by verification; draw `n_prompts` of each clean group (seeded)."""
    rng = np.random.default_rng([seed, 23])
    duplicated = np.flatnonzero(trained.duplicated)
    unique = rng.choice(np.flatnonzero(~trained.duplicated), size=min(n_prompts, int((~trained.duplicated).sum())),
                        replace=False)
    items = np.r_[duplicated, unique]
    rates = replica_rate(trained, training_images, items, [trained.prompts[i] for i in items], extractor, threshold,
                         verify_generations, seed, steps, guidance, batch_size)
    seen = set(trained.record["ids"])
    outside = [i for i, image_id in enumerate(data.ids) if image_id not in seen]
    novel = [data.captions[i][0] for i in rng.choice(outside, size=min(n_prompts, len(outside)), replace=False)]
    random_prompts = [random_token_caption(rng, 8) for _ in range(n_prompts)]
    verified = rates[:len(duplicated)] > 0.5
    groups = np.r_[np.where(verified, MEMORIZED, UNVERIFIED), np.full(len(unique), CLEAN[0]),
                   np.full(len(novel), CLEAN[1]), np.full(n_prompts, CLEAN[2])]
    return DetectionBenchmark(
        prompts=[trained.prompts[i] for i in items] + novel + random_prompts, groups=groups,
        replica_rate=np.r_[rates, np.full(len(novel) + n_prompts, np.nan)],
    )


def subset(result: DetectorScores, keep: np.ndarray) -> DetectorScores:
    """A detector's scores on some of the prompts, its cost scaled to match."""
    keep = np.asarray(keep, dtype=bool)
    return DetectorScores(result.method, result.scores[keep], result.steps, result.generations,
                          result.unet_evals_per_prompt, result.seconds * keep.sum() / len(keep))


def ranked(results: list[DetectorScores], bench: DetectionBenchmark) -> pd.DataFrame:
    """The leaderboard over memorized vs all clean prompts, with each detector's AUC against each clean group."""
    scored = [subset(r, bench.scored) for r in results]
    groups = bench.groups[bench.scored]
    board = leaderboard(scored, bench.memorized[bench.scored])
    by_run = {(r.method, r.steps, r.generations): r for r in scored}
    in_board_order = [by_run[run] for run in zip(board["method"], board["steps"], board["generations"])]
    for group in CLEAN:
        board[f"auc_vs_{group.replace(' ', '_')}"] = [
            detection_metrics(r.scores[groups == MEMORIZED], r.scores[groups == group])["auc"]
            if (groups == group).any() else np.nan for r in in_board_order]
    return board
