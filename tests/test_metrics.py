import numpy as np
import pytest

from copyscope.embed.pixel import PixelExtractor
from copyscope.metrics.replication import frechet_distance, nearest_training, summarize, train_vs_train


def test_summary_statistics():
    s = summarize(np.array([0.1, 0.2, 0.6, 0.9]), threshold=0.5)
    assert s["mean"] == pytest.approx(0.45) and s["max"] == pytest.approx(0.9)
    assert s["fraction_above_threshold"] == 0.5 and s["n"] == 4
    assert s["p95"] == pytest.approx(np.percentile([0.1, 0.2, 0.6, 0.9], 95))
    with pytest.raises(ValueError):
        summarize(np.array([]), 0.5)


def test_exact_copies_score_one_and_beat_the_baseline(shapes):
    extractor = PixelExtractor(16)
    train = extractor(shapes.images)
    copies = nearest_training(extractor(shapes.images[[3, 5]]), train)
    assert np.allclose(copies.scores, 1, atol=1e-5) and list(copies.indices) == [3, 5]
    baseline = train_vs_train(train)
    assert (baseline.indices != np.arange(len(shapes))).all() and baseline.scores.max() < 0.999


def test_pixel_extractor_is_normalised_and_ignores_brightness_offsets(shapes):
    extractor = PixelExtractor(8)
    e = extractor(shapes.images)
    assert e.shape == (len(shapes), 8 * 8 * 3) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    brighter = np.clip(shapes.images.astype(int) + 10, 0, 255).astype(np.uint8)
    assert (np.sum(extractor(brighter) * e, axis=1) > 0.97).mean() > 0.9


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    near, far = frechet_distance(a, a + 0.5), frechet_distance(a, a + 2.0)
    assert near == pytest.approx(4 * 0.25, rel=1e-3) and far > near
