import matplotlib.pyplot as plt
import numpy as np
import pytest

from copyscope.detection.common import DetectorScores
from copyscope.detection.explain import TokenSignificance
from copyscope.detection.magnitude import MagnitudeTrajectory
from copyscope.detection.plots import magnitude_per_step, roc_curves, token_significance_bars


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_bars_show_the_word_tokens_significance():
    result = TokenSignificance("a red circle", [49406, 320, 736, 7117, 49407],
                               ["<|startoftext|>", "a", "red", "circle", "<|endoftext|>"],
                               np.array([4.0, 1.0, 3.0, 2.0, 5.0]), magnitude=0.5)
    ax = token_significance_bars(result)
    assert [bar.get_height() for bar in ax.patches] == [1.0, 3.0, 2.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1:a", "2:red", "3:circle"]
    assert len(token_significance_bars(result, special_tokens=True).patches) == 5


def test_magnitude_curves_average_each_group_per_step():
    magnitudes = np.arange(24, dtype=float).reshape(4, 2, 3)  # prompts x generations x steps
    trajectory = MagnitudeTrajectory(magnitudes, np.array([999, 666, 333]), np.ones(3), steps=3)
    memorized = np.array([True, True, False, False])
    ax = magnitude_per_step(trajectory, {"memorized": memorized, "clean": ~memorized})
    curves = [line for line in ax.lines if len(line.get_xdata()) == 3]
    np.testing.assert_allclose(curves[0].get_ydata(), trajectory.per_step[:2].mean(axis=0))
    np.testing.assert_allclose(curves[1].get_ydata(), trajectory.per_step[2:].mean(axis=0))


def test_roc_curves_trace_each_detector():
    memorized = np.array([True, True, False, False])
    results = [DetectorScores("perfect", np.array([3.0, 4.0, 1.0, 2.0]), 1, 1, 2.0, 1.0),
               DetectorScores("random", np.array([1.0, 1.0, 1.0, 1.0]), 1, 1, 2.0, 1.0)]
    ax = roc_curves(results, memorized)
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [0, 0, 0, 0.5, 1])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0, 0.5, 1, 1, 1])
    assert "1.000" in ax.get_legend().get_texts()[0].get_text()
    assert "0.500" in ax.get_legend().get_texts()[1].get_text()
