"""Shared figures: right panels, right data, written as PNG."""
import matplotlib
import numpy as np
import pandas as pd
import pytest

from copyscope import plots

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def test_pair_gallery_stacks_panels_and_orders_pairs_by_score(tmp_path):
    images = np.stack([np.full((4, 4, 3), 40 * i, np.uint8) for i in range(5)])
    fig = plots.pair_gallery({"a": (images, images[::-1], np.array([0.1, 0.9, 0.5, 0.2, 0.3])),
                              "b": (images[:2], images[:2], np.array([0.4, 0.8]))}, n=3)
    axes = np.array(fig.axes).reshape(4, 3)
    assert [ax.get_title() for ax in axes[0]] == ["0.900", "0.500", "0.300"]
    assert [ax.get_title() for ax in axes[2]] == ["0.800", "0.400", ""] and not axes[2, 2].axison
    assert axes[0, 0].images[0].get_array()[0, 0, 0] == 40  # image 1, the best pair of panel a
    plots.save_figure(fig, tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_grouped_bars_draw_one_bar_per_row_and_metric():
    table = pd.DataFrame({"cell": ["x", "y", "z"], "m1": [0.1, 0.2, 0.3], "m2": [1.0, 0.5, 0.0]})
    fig = plots.grouped_bars(table, "cell", {"m1": "first", "m2": "second"})
    bars = [p for p in fig.axes[0].patches if p.get_height() > 0]
    assert sorted(round(b.get_height(), 3) for b in bars) == [0.1, 0.2, 0.3, 0.5, 1.0]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["first", "second"]


def test_tradeoff_marks_the_baseline():
    table = pd.DataFrame({"method": ["a", "a", "b"], "x": [0.1, 0.2, 0.3], "y": [0.9, 0.8, 0.7]})
    fig = plots.tradeoff(table, "x", "y", "method", pd.Series({"x": 0.5, "y": 1.0}), "alignment", "similarity")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "alignment" and ax.get_ylabel() == "similarity"
    starred = [c for c in ax.collections if c.get_offsets().shape == (1, 2)
               and tuple(c.get_offsets()[0]) == (0.5, 1.0)]
    assert starred


def test_precision_recall_draws_one_curve_per_extractor_and_the_target():
    curves = pd.DataFrame({"extractor": ["a", "a", "b", "b"], "recall": [0.1, 0.5, 0.2, 0.4],
                           "precision": [1.0, 0.8, 0.9, 0.6]})
    fig = plots.precision_recall(curves, precision=0.95, title="benchmark")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"] and ax.get_title() == "benchmark"
    assert any(np.allclose(line.get_ydata(), 0.95) for line in ax.lines)
