"""The studies' glue in lib: evaluation of a model against its training set, per-study tables and verdicts."""
import json

import numpy as np
import pandas as pd
import pytest

from copyscope.config import DuplicationSpec, ModelSpec
from copyscope.detection.common import DetectorScores
from copyscope.embed.pixel import PixelExtractor
from copyscope.metrics.copying import score_copying
from copyscope.stages import TrainedModel
from copyscope.studies import conditioning, detection, mitigation
from copyscope.studies.evaluation import evaluate
from copyscope.studies.replication import size_trend
from tests.conftest import tiny_model


def trained_on(shapes, n=6, duplicated=(0,)):
    flags = np.zeros(n, dtype=bool)
    flags[list(duplicated)] = True
    record = {"prompts": [c[0] for c in shapes.captions[:n]], "duplicated": flags.tolist(),
              "caption_kind": "instance", "ids": shapes.ids[:n], "seconds": 1.0}
    return TrainedModel(tiny_model(), record)


def test_copying_summary_splits_duplicated_from_other_items():
    gen = np.eye(4, dtype=np.float32)[[0, 0, 1, 3]]
    train = np.eye(4, dtype=np.float32)
    gen[3] = np.array([0.6, 0, 0, 0.8], dtype=np.float32)  # nearest training item 3 at 0.8
    scores = score_copying(gen, train, prompt_items=np.array([0, 1, 1, 2]), duplicated=np.array([1, 0, 0, 0], bool),
                           threshold=0.9)
    summary = scores.summary()
    assert summary["replica_fraction"] == 0.75
    assert summary["duplicated_replica_fraction"] == 1.0 and summary["duplicated_n"] == 1
    assert summary["not_duplicated_replica_fraction"] == pytest.approx(2 / 3)
    assert summary["fraction_copying_prompt_item"] == 0.5  # generations 0 and 2 copy their own prompt's image


def test_evaluate_generates_per_item_and_scores_against_the_training_set(shapes):
    trained = trained_on(shapes)
    training_images = shapes.images[:6]
    calls = []

    def alignment(images, prompts):
        calls.append(prompts)
        return np.ones(len(images))

    ev = evaluate(trained, training_images, PixelExtractor(16), threshold=0.9, per_item=2, seed=0, steps=2,
                  guidance=2.0, alignment=alignment, rewrite_prompts=lambda ps: [p + " extra" for p in ps])
    assert ev.generations.shape == (12, 16, 16, 3) and len(ev.prompts) == 12
    assert calls == [ev.prompts] and ev.prompts[0] == ev.prompts[1] == trained.prompts[0]  # original prompts
    assert (ev.matched == training_images[ev.copying.matches.indices]).all()
    assert len(ev.baseline.scores) == 6
    row = ev.row()
    assert row["alignment"] == 1.0 and row["n"] == 12 and row["duplicated_n"] == 2


def test_size_trend_reports_the_sign_of_the_correlation():
    table = pd.DataFrame({"n_train": [64, 16, 256], "replica_fraction": [0.2, 0.5, 0.0]})
    trend = size_trend(table)
    assert trend["spearman_rho"] == pytest.approx(-1) and trend["monotone_non_increasing"]
    assert trend["smallest_set"] == 0.5 and trend["largest_set"] == 0.0
    assert size_trend(table.assign(replica_fraction=[0.2, 0.1, 0.3]))["monotone_non_increasing"] is False


def test_conditioning_cells_are_labelled_by_captions_and_duplication():
    plain = ModelSpec(dataset="d", captions="class")
    dup = ModelSpec(dataset="d", captions="instance", duplication=DuplicationSpec(fraction=0.25, factor=5, mode="image"))
    assert conditioning.cell(plain) == {"cell": "class", "caption_kind": "class", "duplication": "none"}
    assert conditioning.cell(dup)["cell"] == "instance, image only dup 0.25x5"


def _cells(instance_p95, duplicated_p95):
    base = {"similarity_mean": 0.5, "replica_fraction": 0.1, "duplicated_replica_fraction": 0.5,
            "not_duplicated_replica_fraction": 0.0, "not_duplicated_similarity_p95": 0.7}
    return pd.DataFrame([
        {**base, "cell": "unconditional", "caption_kind": "unconditional", "duplication": "none",
         "similarity_p95": 0.6},
        {**base, "cell": "instance", "caption_kind": "instance", "duplication": "none",
         "similarity_p95": instance_p95},
        {**base, "cell": "dup", "caption_kind": "instance", "duplication": "image+caption", "similarity_p95": 0.9,
         "duplicated_similarity_p95": duplicated_p95},
    ])


def test_conditioning_phenomena_hold_only_when_the_numbers_say_so():
    found = conditioning.phenomena(_cells(instance_p95=0.9, duplicated_p95=0.95))
    assert found["instance_vs_unconditional"]["holds"] and found["duplicated_vs_not"]["dup"]["holds"]
    found = conditioning.phenomena(_cells(instance_p95=0.5, duplicated_p95=0.6))
    assert not found["instance_vs_unconditional"]["holds"] and not found["duplicated_vs_not"]["dup"]["holds"]


def test_mitigation_verdicts_need_fewer_duplicated_replicas_and_no_higher_similarity():
    rows = [("baseline", 0.9, 0.5, 0.30), ("a", 0.8, 0.25, 0.28), ("b", 0.8, 0.5, 0.30), ("c", 0.95, 0.0, 0.1)]
    table = pd.DataFrame([{"label": m, "mitigation": m, "when": "training", "strength": "{}", "similarity_p95": s,
                           "duplicated_replica_fraction": d, "alignment": a} for m, s, d, a in rows])
    verdicts = mitigation.verdicts(table).set_index("mitigation")
    assert verdicts["lowers_copying"].to_dict() == {"a": True, "b": False, "c": False}
    assert verdicts.loc["a", "delta_alignment"] == pytest.approx(-0.02)
    assert mitigation.label("rt", "inference", {"n_tokens": 4}) == "rt n_tokens=4 (inference)"
    assert mitigation.label("mc", "training", {}) == "mc (training)"


def _bench():
    groups = np.array([detection.MEMORIZED, detection.MEMORIZED, detection.UNVERIFIED, *detection.CLEAN,
                       detection.CLEAN[0]])
    return detection.DetectionBenchmark([f"p{i}" for i in range(7)], groups,
                                        np.array([1.0, 0.75, 0.25, 0.0, np.nan, np.nan, 0.5]))


def test_detection_benchmark_groups_and_design():
    bench = _bench()
    assert bench.scored.tolist() == [True, True, False, True, True, True, True]
    design = bench.design()
    assert design["prompts"][detection.MEMORIZED] == 2 and design["prompts"]["unique training"] == 2
    assert design["replica_rate_duplicated"] == pytest.approx(2 / 3)
    assert design["replica_rate_unique_training"] == pytest.approx(0.25)
    assert bench.unverified_as_memorized().memorized.sum() == 3


def test_detection_ranking_scores_memorized_against_each_clean_group():
    bench = _bench()
    perfect = DetectorScores("perfect", np.array([9, 8, 0, 1, 2, 3, 4.0]), 1, 1, 2.0, 7.0)
    inverted = DetectorScores("inverted", -perfect.scores, 1, 1, 2.0, 7.0)
    board = detection.ranked([inverted, perfect], bench)
    assert board["method"].tolist() == ["perfect", "inverted"]
    assert board.loc[0, "auc"] == 1.0 and board.loc[1, "auc"] == 0.0
    assert board.loc[0, "auc_vs_novel"] == 1.0 and board.loc[0, "auc_vs_random_tokens"] == 1.0
    assert detection.subset(perfect, bench.scored).seconds == pytest.approx(6.0)


def test_replica_rate_and_benchmark_labels_from_generations(shapes):
    trained = trained_on(shapes, n=6, duplicated=(0, 1))
    training_images = shapes.images[:6]
    everything = detection.replica_rate(trained, training_images, np.arange(6), trained.prompts, PixelExtractor(16),
                                        threshold=-1.0, generations=2, seed=0, steps=2, guidance=1.0, batch_size=8)
    nothing = detection.replica_rate(trained, training_images, np.arange(6), trained.prompts, PixelExtractor(16),
                                     threshold=1.0, generations=2, seed=0, steps=2, guidance=1.0, batch_size=8)
    assert nothing.tolist() == [0.0] * 6 and set(np.unique(everything)) <= {0.0, 0.5, 1.0}
    bench = detection.build_benchmark(trained, training_images, shapes, PixelExtractor(16), threshold=1.0,
                                      n_prompts=3, verify_generations=1, seed=0, steps=2, guidance=1.0, batch_size=8)
    assert bench.design()["prompts"] == {detection.MEMORIZED: 0, detection.UNVERIFIED: 2, "unique training": 3,
                                         "novel": 3, "random tokens": 3}
    novel = bench.prompts[5:8]
    assert all(p in {c[0] for c in shapes.captions[6:]} for p in novel)
    assert json.dumps(bench.design())  # plain JSON for the metrics file
