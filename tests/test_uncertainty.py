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


def _seeded(per_seed_values, repeats: int = 1) -> uncertainty.Seeded:
    """Each value one unit, its generation repeated `repeats` times (identical generations of one prompt)."""
    return uncertainty.Seeded.of((np.repeat(values, repeats), np.repeat(np.arange(len(values)), repeats))
                                 for values in per_seed_values)


def test_identical_generations_of_one_unit_do_not_shrink_the_interval():
    rng = np.random.default_rng(0)
    seeds = [rng.normal(0.5, 0.1, 12) for _ in range(3)]
    mean = lambda v: float(np.mean(v))
    once, eight = (uncertainty.hierarchical(_seeded(seeds, r), mean, seed=1) for r in (1, 8))
    assert once.value == pytest.approx(eight.value) and once.ci95 == pytest.approx(eight.ci95)
    assert once.n == eight.n == 36
    # had the 96 generations been resampled as if independent, the interval would be about sqrt(8) narrower
    pooled = uncertainty.mean(np.repeat(np.concatenate(seeds), 8))
    assert pooled.high - pooled.low < 0.5 * (eight.high - eight.low)


def test_seeds_that_disagree_widen_the_interval_beyond_the_units():
    rng = np.random.default_rng(0)
    agreeing = [rng.normal(0.5, 0.05, 16) for _ in range(3)]
    disagreeing = [values + shift for values, shift in zip(agreeing, (-0.2, 0.0, 0.2))]
    width = lambda e: e.high - e.low
    mean = lambda v: float(np.mean(v))
    assert width(uncertainty.hierarchical(_seeded(disagreeing), mean)) > 3 * width(
        uncertainty.hierarchical(_seeded(agreeing), mean))


def test_a_difference_holds_only_when_its_interval_excludes_zero_in_the_papers_direction():
    rng = np.random.default_rng(0)
    mean = lambda v: float(np.mean(v))
    high = _seeded([rng.normal(0.8, 0.05, 16) for _ in range(3)])
    low = _seeded([rng.normal(0.5, 0.05, 16) for _ in range(3)])
    same = _seeded([rng.normal(0.5, 0.05, 16) for _ in range(3)])
    up = uncertainty.hierarchical(high, mean, minus=low)
    assert up.value == pytest.approx(0.3, abs=0.05) and up.low > 0
    assert uncertainty.verdict(up) == uncertainty.HOLDS
    assert uncertainty.verdict(up, direction=-1) == uncertainty.NOT_SHOWN  # the paper said it would fall
    overlapping = uncertainty.hierarchical(same, mean, minus=low)
    assert overlapping.low < 0 < overlapping.high and uncertainty.verdict(overlapping) == uncertainty.NOT_SHOWN
    assert uncertainty.verdict(uncertainty.hierarchical(low, mean, minus=high), -1) == uncertainty.HOLDS


def test_hierarchical_degenerate_cells():
    mean = lambda v: float(np.mean(v))
    constant = uncertainty.hierarchical(_seeded([np.full(4, 0.3)] * 2), mean)
    assert constant.ci95 == [0.3, 0.3]
    single = uncertainty.hierarchical(_seeded([np.array([0.3])]), mean)  # one seed, one unit: no interval
    assert single.value == 0.3 and np.isnan(single.low)
    empty = uncertainty.hierarchical(uncertainty.Seeded.of([(np.zeros(0), np.zeros(0))]), mean)
    assert np.isnan(empty.value) and uncertainty.verdict(empty) == uncertainty.NOT_SHOWN


def test_a_group_difference_resamples_each_group_on_its_own():
    high, low = np.r_[np.ones(20), np.zeros(5)], np.r_[np.ones(5), np.zeros(20)]
    apart = uncertainty.group_difference(high, low, seed=0)
    assert apart.value == pytest.approx(0.6) and apart.low > 0 and apart.n == 50
    same = uncertainty.group_difference(high, high[::-1], seed=0)
    assert same.value == 0 and same.low < 0 < same.high


def test_a_seeded_mean_is_the_units_bootstrap_for_one_seed_and_resamples_seeds_for_several():
    rng = np.random.default_rng(0)
    after, before = rng.random(12), rng.random(12)
    assert uncertainty.seeded_mean(after, None, before) == uncertainty.paired_difference(after, before)
    assert uncertainty.seeded_mean(after, np.zeros(12, int)) == uncertainty.mean(after)
    seeds = np.repeat([0, 1, 2], 4)
    agreeing = np.tile(after[:4], 3)  # three seeds alike: only the units vary
    disagreeing = agreeing + np.repeat([0.0, 0.5, 1.0], 4)  # each seed shifted by another amount
    one, several = (uncertainty.seeded_mean(v, seeds) for v in (agreeing, disagreeing))
    assert several.value == pytest.approx(agreeing.mean() + 0.5) and several.n == 12
    assert several.high - several.low > 2 * (one.high - one.low)
    paired = uncertainty.seeded_mean(disagreeing, seeds, minus=disagreeing - 0.2)  # the same change in every seed
    assert [paired.value, paired.low, paired.high] == pytest.approx([0.2] * 3)  # pairing removes the seeds' spread
