"""Bootstrap intervals: they cover the truth at about the nominal rate, and resample the right unit."""
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from copyscope.metrics import uncertainty


def test_rank_auc_is_scikit_learns_auc_with_ties_counting_half():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 5, 30).astype(float), rng.integers(0, 4, 50).astype(float)
    expected = roc_auc_score(np.r_[np.ones(30), np.zeros(50)], np.r_[pos, neg])
    assert uncertainty.rank_auc(pos, neg) == pytest.approx(expected)
    stacked = uncertainty.rank_auc(np.stack([pos, pos]), np.stack([neg, neg]), axis=-1)
    np.testing.assert_allclose(stacked, [expected, expected])


def test_the_auc_interval_covers_the_true_auc_at_about_the_nominal_rate():
    """Scores N(d, 1) vs N(0, 1): the true AUC is Φ(d / √2). 200 synthetic benchmarks of 64 vs 256 prompts."""
    d = 1.0
    truth = stats.norm.cdf(d / np.sqrt(2))
    rng = np.random.default_rng(1)
    covered = []
    for trial in range(200):
        estimate = uncertainty.auc(rng.normal(d, 1, 64), rng.normal(0, 1, 256), seed=trial)
        covered.append(estimate.low <= truth <= estimate.high)
    assert 0.88 <= np.mean(covered) <= 0.99


def test_mean_and_paired_differences_resample_units_and_say_when_a_fall_holds():
    rates = np.array([1.0, 0.75, 1.0, 0.5, 1.0, 0.875, 1.0, 0.625])
    estimate = uncertainty.mean(rates)
    assert estimate.value == pytest.approx(rates.mean()) and estimate.low < estimate.value < estimate.high
    assert estimate.n == 8 and estimate.ci95 == [estimate.low, estimate.high]
    fall = uncertainty.paired_difference(rates - 0.5, rates)
    assert fall.value == -0.5 and fall.low == fall.high == -0.5 and fall.excludes_zero_below()
    noisy = uncertainty.paired_difference(rates[::-1], rates)
    assert noisy.low < 0 < noisy.high and not noisy.excludes_zero_below()
    assert np.isnan(uncertainty.mean([]).value) and np.isnan(uncertainty.auc([], [1.0]).low)


def test_tpr_at_1pct_fpr_interval_brackets_the_value():
    rng = np.random.default_rng(2)
    estimate = uncertainty.tpr_at_1pct_fpr(rng.normal(2.5, 1, 64), rng.normal(0, 1, 300))
    assert estimate.low <= estimate.value <= estimate.high and 0 < estimate.value < 1
