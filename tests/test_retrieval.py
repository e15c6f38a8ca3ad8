import json

import numpy as np
import pytest

from copyscope.benchmark.copies import build_benchmark
from copyscope.benchmark.ranking import rank_extractors
from copyscope.benchmark.retrieval import (Ranking, calibrate_threshold, evaluate_retrieval, precision_recall_curve,
                                           search_ranking, similarity_ranking)
from copyscope.data.sources import procedural_set
from copyscope.embed.pixel import PixelExtractor

# Three copies (sources 0, 1, 2: found at ranks 1, 2, 3) and two non-copies.
SIMILARITY = np.array([
    [0.9, 0.2, 0.1],
    [0.5, 0.3, 0.1],
    [0.3, 0.4, 0.2],
    [0.7, 0.1, 0.0],
    [0.1, 0.2, 0.3],
])
SOURCES = np.array([0, 1, 2, -1, -1])


def test_metrics_on_a_hand_made_example():
    report = evaluate_retrieval(similarity_ranking(SIMILARITY), SOURCES, precision=0.95)
    assert report.mrr == pytest.approx((1 + 1 / 2 + 1 / 3) / 3) and report.mAP == pytest.approx(report.mrr)
    assert report.recall_at == {1: pytest.approx(1 / 3), 5: 1.0, 10: 1.0}
    # top-1 scores, best first: 0.9 correct, 0.7 non-copy, 0.5 wrong, 0.4 wrong, 0.3 non-copy
    assert report.curve["threshold"].tolist() == pytest.approx([0.9, 0.7, 0.5, 0.4, 0.3])
    assert report.curve["precision"].tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5])
    assert report.curve["recall"].tolist() == pytest.approx([1 / 3] * 5)
    assert report.threshold == pytest.approx(0.9) and report.recall_at_threshold == pytest.approx(1 / 3)
    assert report.micro_AP == pytest.approx(1 / 3)
    loose = evaluate_retrieval(similarity_ranking(SIMILARITY), SOURCES, precision=0.5)
    assert loose.threshold == pytest.approx(0.7)
    assert set(report.summary()) == {"mAP", "micro_AP", "R@1", "R@5", "R@10", "MRR", "threshold",
                                     "recall_at_threshold"}


def test_a_shallow_ranking_counts_sources_beyond_it_as_missed():
    report = evaluate_retrieval(similarity_ranking(SIMILARITY, depth=1), SOURCES)
    assert report.mrr == pytest.approx(1 / 3) and report.recall_at[5] == pytest.approx(1 / 3)


def test_threshold_is_the_lowest_reaching_the_precision_and_ties_count_together():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([True, False, True, True, False])
    curve = precision_recall_curve(scores, correct, n_copies=4)
    assert curve["precision"].tolist() == pytest.approx([1, 1 / 2, 2 / 3, 3 / 4, 3 / 5])
    assert calibrate_threshold(curve, 0.7) == (pytest.approx(0.6), pytest.approx(3 / 4))  # past the dip at 0.8
    threshold, recall = calibrate_threshold(precision_recall_curve(scores, np.zeros(5, bool), 4), 0.1)
    assert np.isnan(threshold) and recall == 0
    tied = precision_recall_curve(np.array([0.9, 0.9, 0.5]), np.array([True, False, True]), n_copies=2)
    assert tied["threshold"].tolist() == [0.9, 0.5] and tied["precision"].tolist() == [0.5, 2 / 3]


def test_faiss_search_ranks_like_the_similarity_matrix():
    rng = np.random.default_rng(0)
    queries, database = rng.normal(size=(7, 5)).astype(np.float32), rng.normal(size=(9, 5)).astype(np.float32)
    searched, direct = search_ranking(queries, database), similarity_ranking(queries @ database.T)
    assert np.array_equal(searched.ids, direct.ids) and np.allclose(searched.scores, direct.scores, atol=1e-5)
    assert search_ranking(queries, database, depth=3).ids.shape == (7, 3)


def test_bad_inputs_are_named():
    ranking = similarity_ranking(SIMILARITY)
    with pytest.raises(ValueError, match="5 ranked queries"):
        evaluate_retrieval(ranking, SOURCES[:3])
    with pytest.raises(ValueError, match="no copy queries"):
        evaluate_retrieval(ranking, np.full(5, -1))
    with pytest.raises(ValueError, match="precision"):
        evaluate_retrieval(Ranking(ranking.scores, ranking.ids), SOURCES, precision=0)


class _Noise:
    """An extractor that ignores the image."""

    preprocessing = {"none": True}

    def __call__(self, images):
        rng = np.random.default_rng(len(images))
        e = rng.normal(size=(len(images), 8)).astype(np.float32)
        return e / np.linalg.norm(e, axis=1, keepdims=True)


def test_rank_extractors_puts_the_informative_extractor_first():
    pool = procedural_set(80, 16, seed=8, max_objects=2, n_captions=1, identifiers=False)
    benchmark = build_benchmark(pool.images, pool.masks, 20, 10, 20, kind="cutmix", beta=4.0, seed=0)
    table = rank_extractors(benchmark, {"noise": _Noise(), "pixel": PixelExtractor(16)})
    assert table["name"].tolist() == ["pixel", "noise"]
    assert list(table.columns) == ["name", "mAP", "micro_AP", "R@1", "R@5", "R@10", "MRR", "threshold",
                                   "recall_at_threshold", "preprocessing"]
    assert table.loc[0, "R@10"] > 0.8 and table.loc[0, "mAP"] > table.loc[1, "mAP"]
    assert json.loads(table.loc[1, "preprocessing"]) == {"none": True}
    assert set(table.attrs["reports"]) == {"pixel", "noise"}
    with pytest.raises(ValueError, match="no extractors"):
        rank_extractors(benchmark, {})
