import numpy as np
import pytest

from copyscope.embed.pixel import PixelExtractor
from copyscope.embed.similarity import split_product_similarity
from copyscope.metrics.replication import (STATISTICS, best_matches, frechet_distance, nearest_training, summarize,
                                           train_vs_train)


def test_summary_statistics_in_one_vocabulary():
    s = summarize(np.array([0.1, 0.2, 0.6, 0.9]), threshold=0.5)
    assert list(s) == [*STATISTICS, "n"]
    assert s["similarity_mean"] == pytest.approx(0.45) and s["similarity_max"] == pytest.approx(0.9)
    assert s["similarity_median"] == pytest.approx(0.4)
    assert s["replica_fraction"] == 0.5 and s["n"] == 4
    assert s["similarity_p95"] == pytest.approx(np.percentile([0.1, 0.2, 0.6, 0.9], 95))
    assert summarize(np.array([]), 0.5) == {**dict.fromkeys(STATISTICS), "n": 0}


def test_summary_keeps_the_scores_precision():
    scores = np.random.default_rng(0).random(64).astype(np.float32)
    assert summarize(scores, 0.5)["similarity_mean"] == float(scores.mean())


def test_best_matches_of_a_similarity_matrix_and_of_train_vs_train():
    similarity = np.array([[0.1, 0.9, 0.3], [0.5, 0.2, 0.4]])
    found = best_matches(similarity)
    assert found.indices.tolist() == [1, 0] and np.allclose(found.scores, [0.9, 0.5])
    square = np.array([[1.0, 0.2, 0.7], [0.2, 1.0, 0.1], [0.7, 0.1, 1.0]])
    baseline = best_matches(square, exclude_self=True)
    assert baseline.indices.tolist() == [2, 0, 0] and np.allclose(baseline.scores, [0.7, 0.2, 0.7])
    assert square[0, 0] == 1.0  # the caller's matrix is left alone
    with pytest.raises(ValueError, match="square"):
        best_matches(similarity, exclude_self=True)


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


def _frechet_in_feature_space(a, b):
    """FID's formula with Tr sqrtm(Σa Σb) as Tr sqrt(Σa^½ Σb Σa^½), all d × d: the reference."""
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    half = (vectors * np.sqrt(values.clip(min=0))) @ vectors.T
    trace_root = np.sqrt(np.linalg.eigvalsh(half @ cov_b @ half).clip(min=0)).sum()
    return ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b) - 2 * trace_root


@pytest.mark.parametrize("sizes", [(300, 200), (12, 9), (12, 300)])  # more, fewer and mixed embeddings than dims
def test_frechet_distance_equals_the_feature_space_formula_for_any_set_size(sizes):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(sizes[0], 32)) @ rng.normal(size=(32, 32))
    b = rng.normal(size=(sizes[1], 32)) + 0.3
    assert frechet_distance(a, b) == pytest.approx(_frechet_in_feature_space(a, b), rel=1e-8)
    assert frechet_distance(b, a) == pytest.approx(frechet_distance(a, b), rel=1e-8)


def test_pixel_tokens_are_the_centred_pixels_one_per_pixel(shapes):
    extractor = PixelExtractor(8)
    tokens = extractor.tokens(shapes.images[:5])
    assert tokens.shape == (5, 64, 3) and np.allclose(tokens.mean(axis=1), 0, atol=1e-6)
    flat = tokens.reshape(5, -1)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    e = extractor(shapes.images[:5])
    np.testing.assert_allclose(flat @ flat.T, e @ e.T, atol=1e-5)  # one chunk: the global cosine
    np.testing.assert_allclose(split_product_similarity(tokens, tokens, 1), e @ e.T, atol=1e-5)
    first_row = tokens.reshape(5, 8, 8, 3)[:, 0]
    np.testing.assert_allclose(first_row, tokens[:, :8])  # row-major: chunks are horizontal bands
