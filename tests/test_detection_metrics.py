import numpy as np
import pytest
from sklearn.metrics import roc_curve

from copyscope.detection.common import DetectorScores
from copyscope.detection.metrics import detection_metrics, leaderboard, threshold_at_fpr, tpr_at_fpr


def test_separated_scores_give_auc_one_and_identical_scores_give_one_half():
    separated = detection_metrics([5.0, 6.0, 7.0], [1.0, 2.0, 3.0])
    assert separated["auc"] == 1.0 and separated["tpr@1%fpr"] == 1.0 and separated["tpr@3%fpr"] == 1.0
    identical = detection_metrics([2.0] * 4, [2.0] * 5)
    assert identical["auc"] == 0.5
    assert identical["tpr@1%fpr"] == 0.0  # ties are never split: flagging any would flag every clean prompt too


def test_tpr_at_fpr_on_a_constructed_case():
    clean = np.arange(100.0)  # 0 .. 99
    memorized = np.array([99.5, 98.5, 97.5, 96.5, 50.0])
    # 1% of 100 clean prompts: one may be flagged, so tau = 98 (only 99 lies above) and 99.5, 98.5 are caught
    assert threshold_at_fpr(clean, 0.01) == 98.0 and tpr_at_fpr(memorized, clean, 0.01) == pytest.approx(2 / 5)
    # 3%: tau = 96, three clean prompts above it; 99.5, 98.5, 97.5, 96.5 are caught
    assert threshold_at_fpr(clean, 0.03) == 96.0 and tpr_at_fpr(memorized, clean, 0.03) == pytest.approx(4 / 5)
    assert threshold_at_fpr(clean, 0.29) == 70.0  # floor(0.29 * 100) is 29, not 28
    tied = np.array([10.0, 10.0] + [0.0] * 98)  # two clean prompts tie at the top: 1% cannot flag either
    assert tpr_at_fpr([10.0, 11.0], tied, 0.01) == 0.5
    metrics = detection_metrics(memorized, clean)
    assert metrics["tpr@1%fpr"] == pytest.approx(0.4) and metrics["threshold@3%fpr"] == 96.0
    assert metrics["auc"] == pytest.approx((100 + 99 + 98 + 97 + 50.5) / 500)  # 50.0 beats 0..49, ties 50


def test_tpr_is_the_best_roc_point_within_the_fpr_budget():
    rng = np.random.default_rng(0)
    memorized, clean = rng.normal(1.5, 1, 60).round(1), rng.normal(0, 1, 140).round(1)  # rounding makes ties
    fpr, tpr, _ = roc_curve(np.r_[np.ones(60), np.zeros(140)], np.r_[memorized, clean], drop_intermediate=False)
    for alpha in (0.01, 0.03, 0.1):
        assert tpr_at_fpr(memorized, clean, alpha) == pytest.approx(tpr[fpr <= alpha + 1e-12].max())
    roc = detection_metrics(memorized, clean)["roc"]
    np.testing.assert_array_equal(roc["fpr"], fpr)


def test_bad_scores_are_rejected():
    with pytest.raises(ValueError, match="non-empty"):
        detection_metrics([], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        detection_metrics([1.0, np.nan], [0.0])
    with pytest.raises(ValueError, match="fpr"):
        threshold_at_fpr([1.0], 1.0)


def _result(method, scores, steps=1, seconds=2.0):
    return DetectorScores(method, np.asarray(scores, float), steps=steps, generations=4,
                          unet_evals_per_prompt=8.0 * steps, seconds=seconds)


def test_leaderboard_ranks_detectors_and_reports_their_cost():
    memorized = np.array([True, True, False, False])
    table = leaderboard([_result("weak", [0.2, 0.9, 0.5, 0.1]), _result("strong", [5, 6, 1, 2], steps=50, seconds=8)],
                        memorized)
    assert list(table.method) == ["strong", "weak"]
    assert list(table.columns) == ["method", "steps", "generations", "auc", "tpr@1%fpr", "tpr@3%fpr",
                                   "unet_evals_per_prompt", "seconds_per_prompt"]
    assert table.auc.tolist() == [1.0, 0.75]
    assert table.loc[0, "seconds_per_prompt"] == 2.0 and table.loc[0, "unet_evals_per_prompt"] == 400
    with pytest.raises(ValueError, match="labelled"):
        leaderboard([_result("short", [1.0])], memorized)
    with pytest.raises(ValueError, match="both"):
        leaderboard([_result("weak", [1, 2, 3, 4])], np.ones(4, bool))
