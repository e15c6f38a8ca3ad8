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


def group_difference(first, second, seed: int = 0) -> Estimate:
    """Mean of `first` − mean of `second` over two independent groups of units, each resampled on its own."""
    first, second = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    if not len(first) or not len(second):
        return Estimate(float("nan"), float("nan"), float("nan"), len(first) + len(second))
    def statistic(a, b, axis=-1):
        return np.mean(a, axis=axis) - np.mean(b, axis=axis)

    low, high = _bootstrap((first, second), statistic, seed, paired=False)
    return Estimate(float(statistic(first, second)), low, high, len(first) + len(second))


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


HOLDS, NOT_SHOWN = "holds", "not shown at this scale"


@dataclass(frozen=True)
class Seeded:
    """Per-generation values of one cell for each training seed, with the unit (a prompt, a training image, an
    unconditional draw) each generation belongs to: the two levels `hierarchical` resamples."""

    values: tuple[np.ndarray, ...]
    units: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, pairs) -> "Seeded":
        """From (values, units) per seed."""
        pairs = [(np.asarray(v, dtype=float), np.asarray(u)) for v, u in pairs]
        return cls(tuple(v for v, _ in pairs), tuple(u for _, u in pairs))

    @property
    def seeds(self) -> int:
        return len(self.values)

    @property
    def n_units(self) -> int:
        return sum(len(np.unique(u)) for u in self.units)

    def groups(self) -> list[list[np.ndarray]]:
        """Per seed, the values of each unit."""
        return [[v[u == unit] for unit in np.unique(u)] for v, u in zip(self.values, self.units)]


def _cell(groups: list[list[np.ndarray]], statistic, chosen_seeds, rng) -> float:
    """The statistic per seed over units drawn with replacement within it, averaged over the drawn seeds."""
    per_seed = []
    for s in chosen_seeds:
        units = groups[s]
        picked = rng.integers(len(units), size=len(units))
        per_seed.append(statistic(np.concatenate([units[i] for i in picked])))
    return float(np.mean(per_seed))


def hierarchical(cell: Seeded, statistic, minus: Seeded | None = None, seed: int = 0) -> Estimate:
    """`statistic` of a cell's pooled generations, averaged over its seeds (minus that of cell `minus`), with a
    two-level percentile bootstrap: seeds with replacement, then units with replacement within each seed, never
    single generations of one unit. Cells with as many seeds are paired by seed index (same initialisation)."""
    cells = [cell] if minus is None else [cell, minus]
    groups = [c.groups() for c in cells]
    if any(not c.seeds or not all(g for g in gs) for c, gs in zip(cells, groups)):
        return Estimate(float("nan"), float("nan"), float("nan"), cell.n_units)
    signs = [1.0, -1.0][: len(cells)]
    value = sum(sign * float(np.mean([statistic(v) for v in c.values])) for sign, c in zip(signs, cells))
    if all(c.seeds == 1 and len(g[0]) == 1 for c, g in zip(cells, groups)):  # one unit: nothing to resample
        return Estimate(value, float("nan"), float("nan"), cell.n_units)
    if all(np.ptp(np.concatenate(c.values)) == 0 for c in cells):  # every resample gives the same value
        return Estimate(value, value, value, cell.n_units)
    rng = np.random.default_rng(seed)
    paired = len(cells) == 2 and cells[0].seeds == cells[1].seeds
    draws = np.empty(RESAMPLES)
    for r in range(RESAMPLES):
        shared = rng.integers(cells[0].seeds, size=cells[0].seeds)
        draws[r] = sum(sign * _cell(g, statistic, shared if (paired or i == 0) else
                                    rng.integers(c.seeds, size=c.seeds), rng)
                       for i, (sign, c, g) in enumerate(zip(signs, cells, groups)))
    low, high = np.percentile(draws, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    return Estimate(value, float(low), float(high), cell.n_units)


def seeded_mean(values, seeds=None, minus=None, seed: int = 0) -> Estimate:
    """The mean of per-unit values (minus `minus` on the same units: a paired change) with its interval, where
    `seeds` gives each unit's training seed: resampling the units (`mean`) when they come from one seed, and seeds
    then units within a seed (`hierarchical`, the value a mean over seeds) when from several."""
    values = np.asarray(values, dtype=float) - (0.0 if minus is None else np.asarray(minus, dtype=float))
    seeds = np.zeros(len(values), dtype=int) if seeds is None else np.asarray(seeds)
    if len(np.unique(seeds)) < 2:
        return mean(values, seed)
    per_seed = [values[seeds == s] for s in np.unique(seeds)]
    return hierarchical(Seeded.of((v, np.arange(len(v))) for v in per_seed), np.mean, seed=seed)


def verdict(difference: Estimate, direction: int = 1) -> str:
    """"holds" when the difference's 95% interval excludes zero in the paper's direction (+1: the first cell is
    higher), else "not shown at this scale"."""
    bound = difference.low if direction > 0 else -difference.high
    return HOLDS if bound > 0 else NOT_SHOWN
