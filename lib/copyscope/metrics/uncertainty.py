"""Values with 95% confidence intervals from scipy's bootstrap, resampling the unit that is independent.

The unit is always the item a number is an average over (a prompt, a training image), never the generations of
one prompt: a prompt's generations are averaged first, and the per-prompt values are resampled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from copyscope.detection.metrics import tpr_at_fpr

RESAMPLES = 2000
LEVEL = 0.95


def rank_auc(positives, negatives, axis: int = -1):
    """ROC AUC from ranks (ties count one half), along `axis`, so that the bootstrap can vectorise it."""
    positives, negatives = np.asarray(positives, dtype=float), np.asarray(negatives, dtype=float)
    n_pos, n_neg = positives.shape[axis], negatives.shape[axis]
    ranks = stats.rankdata(np.concatenate([positives, negatives], axis=axis), axis=axis)
    positive_ranks = np.take(ranks, np.arange(n_pos), axis=axis).sum(axis=axis)
    return (positive_ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@dataclass(frozen=True)
class Estimate:
    """A value, its 95% interval and the number of independent units behind it."""

    value: float
    low: float
    high: float
    n: int

    @property
    def ci95(self) -> list[float]:
        return [self.low, self.high]

    def excludes_zero_below(self) -> bool:
        """True when the whole interval is below zero (a decrease that holds)."""
        return bool(self.high < 0)


def _bootstrap(data: tuple[np.ndarray, ...], statistic, seed: int, paired: bool = True, vectorized: bool = True
               ) -> tuple[float, float]:
    """Percentile bootstrap interval of `statistic` over the rows of `data` (NaN where it cannot be computed)."""
    if min(len(d) for d in data) < 2:
        return float("nan"), float("nan")
    result = stats.bootstrap(data, statistic, n_resamples=RESAMPLES, confidence_level=LEVEL, method="percentile",
                             paired=paired, vectorized=vectorized, rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean(values, seed: int = 0) -> Estimate:
    """The mean of per-unit values with its interval."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    if np.ptp(values) == 0:  # every resample gives the same mean
        return Estimate(float(values[0]), float(values[0]), float(values[0]), len(values))
    low, high = _bootstrap((values,), lambda x, axis=-1: np.mean(x, axis=axis), seed)
    return Estimate(float(values.mean()), low, high, len(values))


def paired_difference(after, before, seed: int = 0) -> Estimate:
    """Mean of after − before over the same units (e.g. one prompt's replica rate with and without a mitigation)."""
    return mean(np.asarray(after, dtype=float) - np.asarray(before, dtype=float), seed)


def auc(positives, negatives, seed: int = 0) -> Estimate:
    """ROC AUC of scores (higher = positive), resampling positives and negatives separately (stratified)."""
    positives, negatives = np.asarray(positives, dtype=float), np.asarray(negatives, dtype=float)
    if not len(positives) or not len(negatives):
        return Estimate(float("nan"), float("nan"), float("nan"), len(positives) + len(negatives))
    low, high = _bootstrap((positives, negatives), rank_auc, seed, paired=False)
    return Estimate(float(rank_auc(positives, negatives)), low, high, len(positives) + len(negatives))


def tpr_at_1pct_fpr(positives, negatives, seed: int = 0) -> Estimate:
    """TPR at 1% FPR, resampling positives and negatives separately."""
    positives, negatives = np.asarray(positives, dtype=float), np.asarray(negatives, dtype=float)
    if not len(positives) or not len(negatives):
        return Estimate(float("nan"), float("nan"), float("nan"), len(positives) + len(negatives))
    def statistic(p, q):
        return tpr_at_fpr(p, q, 0.01)

    low, high = _bootstrap((positives, negatives), statistic, seed, paired=False, vectorized=False)
    return Estimate(statistic(positives, negatives), low, high, len(positives) + len(negatives))
