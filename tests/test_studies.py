"""The studies' glue in lib: the one generate → embed → match path, per-study tables, headline metrics, verdicts
and conclusions."""
import numpy as np
import pandas as pd
import pytest

from copyscope.config import Duplication, ModelSpec, Sampling
from copyscope.detection.common import DetectorScores
from copyscope.detection.magnitude import METHOD
from copyscope.embed.pixel import PixelExtractor
from copyscope.metrics.copying import CopyingScores
from copyscope.metrics.replication import nearest_training, train_vs_train
from copyscope.report import is_flat
from copyscope.sampling import generate
from copyscope.studies import conditioning, detection, mitigation, replication
from copyscope.studies.evaluation import Matcher, evaluate, generate_and_match
from tests import study_fakes
from tests.study_fakes import trained_on

SAMPLING = Sampling(steps=2, guidance=2.0, batch_size=8)


# --- the one generate → embed → match path -----------------------------------------------------------------------

def test_generate_and_match_is_generate_then_top1_search(shapes):
    trained, training_images = trained_on(shapes), shapes.images[:6]
    prompts = trained.prompts[:3] * 2
    matched = generate_and_match(trained, training_images, prompts, Matcher(PixelExtractor(16)), seed=5,
                                 sampling=SAMPLING)
    images = generate(trained.model, prompts, seed=5, steps=2, guidance=2.0, batch_size=8, progress=False)
    np.testing.assert_array_equal(matched.generations, images)
    expected = nearest_training(PixelExtractor(16)(images), PixelExtractor(16)(training_images))
    np.testing.assert_array_equal(matched.matches.scores, expected.scores)
    np.testing.assert_array_equal(matched.matches.indices, expected.indices)
    np.testing.assert_array_equal(matched.baseline.scores, train_vs_train(PixelExtractor(16)(training_images)).scores)
    assert matched.seconds > 0 and matched.frechet >= 0


def test_split_product_over_one_chunk_is_the_dot_product(shapes):
    images, training = shapes.images[:5], shapes.images[5:12]
    dot = Matcher(PixelExtractor(16)).match(images, training)
    whole = Matcher(PixelExtractor(16), "split_product", split_chunks=1).match(images, training)
    np.testing.assert_allclose(whole.matches.scores, dot.matches.scores, atol=1e-5)
    np.testing.assert_array_equal(whole.matches.indices, dot.matches.indices)
    np.testing.assert_array_equal(whole.baseline.indices, dot.baseline.indices)
    assert (whole.baseline.indices != np.arange(len(training))).all()


def test_split_product_finds_a_copied_band():
    rng = np.random.default_rng(0)
    training = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    pasted = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    pasted[:, :4] = training[[2, 4], :4]  # the top quarter of training images 2 and 4: one chunk of four
    banded = Matcher(PixelExtractor(16), "split_product", split_chunks=4).match(pasted, training)
    whole = Matcher(PixelExtractor(16)).match(pasted, training)
    assert banded.matches.indices.tolist() == [2, 4]
    assert (banded.matches.scores > 0.95).all() and (whole.matches.scores < 0.6).all()
    with pytest.raises(ValueError, match="similarity"):
        Matcher(PixelExtractor(16), "cosine")


def test_evaluate_generates_per_item_and_scores_against_the_training_set(shapes):
    trained, training_images = trained_on(shapes), shapes.images[:6]
    calls = []

    def alignment(images, prompts):
        calls.append(prompts)
        return np.ones(len(images))

    ev = evaluate(trained, training_images, Matcher(PixelExtractor(16)), threshold=0.9, per_item=2, seed=0,
                  sampling=SAMPLING, alignment=alignment, rewrite_prompts=lambda ps: [p + " extra" for p in ps])
    assert ev.generations.shape == (12, 16, 16, 3) and len(ev.prompts) == 12
    assert calls == [ev.prompts] and ev.prompts[0] == ev.prompts[1] == trained.prompts[0]  # original prompts
    assert (ev.nearest == training_images[ev.copying.matches.indices]).all()
    assert len(ev.baseline.scores) == 6 and ev.seconds_per_image > 0
    row = ev.row()
    assert row["alignment"] == 1.0 and row["n"] == 12 and row["duplicated_n"] == 2
    assert not any("seconds" in key for key in row)


def test_copying_summary_splits_duplicated_from_other_items():
    gen = np.eye(4, dtype=np.float32)[[0, 0, 1, 3]]
    gen[3] = np.array([0.6, 0, 0, 0.8], dtype=np.float32)  # nearest training item 3 at 0.8
    scores = CopyingScores(nearest_training(gen, np.eye(4, dtype=np.float32)), np.array([0, 1, 1, 2]),
                           np.array([1, 0, 0, 0], bool), threshold=0.9)
    summary = scores.summary()
    assert summary["replica_fraction"] == 0.75 and summary["similarity_max"] == pytest.approx(1.0)
    assert summary["duplicated_replica_fraction"] == 1.0 and summary["duplicated_n"] == 1
    assert summary["not_duplicated_replica_fraction"] == pytest.approx(2 / 3)
    assert summary["fraction_copying_prompt_item"] == 0.5  # generations 0 and 2 copy their own prompt's image


# --- replication -------------------------------------------------------------------------------------------------

def test_replication_measures_every_model_against_its_own_training_set(shapes, tmp_path, monkeypatch):
    params = study_fakes.smoke_params(replication={"models": ["shapes-1", "faces-1"], "n_generations": 4})
    sizes = {"shapes-1": 6, "faces-1": 3}
    monkeypatch.setattr(replication, "load_with_training_images",
                        lambda name: (trained_on(shapes, sizes[name]), shapes.images[:sizes[name]]))
    size, results = replication.measure(study_fakes.study("replication", tmp_path, params))
    assert size["model"].tolist() == ["shapes-1", "faces-1"] and size["dataset"].tolist() == ["shapes", "faces"]
    assert size["n_train"].tolist() == [6, 3] and size["n"].tolist() == [4, 4]
    assert {"similarity_median", "train_vs_train_similarity_p95", "frechet_distance"} <= set(size.columns)
    assert list(replication.histogram_panels(results)) == ["shapes-1 (n=6)", "faces-1 (n=3)"]
    generations, nearest, scores = replication.gallery_panels(results)["faces-1 (n=3)"]
    assert len(generations) == len(nearest) == len(scores) == 4
    assert set(replication.timing(results)["seconds_per_image"]) == {"shapes-1", "faces-1"}


def test_size_trend_reports_the_sign_of_the_correlation():
    table = pd.DataFrame({"n_train": [64, 16, 256], "replica_fraction": [0.2, 0.5, 0.0]})
    trend = replication.size_trend(table)
    assert trend["spearman_rho"] == pytest.approx(-1)
    assert trend["smallest_set"] == 0.5 and trend["largest_set"] == 0.0
    assert np.isnan(replication.size_trend(table.assign(replica_fraction=0.0))["spearman_rho"])


def _size_table():
    return pd.DataFrame({"dataset": ["faces"] * 3 + ["shapes"] * 2, "n_train": [10, 30, 100, 16, 512],
                         "replica_fraction": [0.05, 0.0, 0.0, 0.0, 0.0],
                         "similarity_p95": [0.93, 0.85, 0.8, 0.72, 0.49]})


def test_replication_headline_metrics_are_flat_and_read_per_dataset():
    metrics = replication.headline_metrics(_size_table(), study_fakes.calibration(0.931), "default")
    assert is_flat(metrics) and len(metrics) <= 17
    assert metrics["extractor"] == "pixel" and metrics["extractor_map"] == 0.3 and metrics["threshold"] == 0.931
    assert metrics["faces_similarity_p95_rho"] == pytest.approx(-1)
    assert metrics["faces_replica_fraction_smallest_set"] == 0.05 and metrics["shapes_replica_fraction_rho"] is None
    assert metrics["shapes_similarity_p95_largest_set"] == 0.49
    text = replication.conclusion(metrics)
    assert "mAP 0.300" in text and "0.931" in text and "4.7%" not in text and "5.0%" in text
    assert "**faces**: replication falls" in text and "0.930 → 0.800" in text
    assert "No generation crosses the threshold" in text.split("**shapes**")[1]
    assert "0.720 → 0.490" in replication.caption(metrics)


def test_replication_conclusion_says_when_the_trend_fails_and_the_threshold_is_not_calibrated():
    rising = _size_table().assign(similarity_p95=[0.7, 0.8, 0.9, 0.5, 0.6])
    metrics = replication.headline_metrics(rising, study_fakes.calibration(0.9, calibrated=False), "smoke")
    text = replication.conclusion(metrics)
    assert "does NOT fall" in text and "fallback 0.900" in text


def test_replication_tables_of_the_calibration():
    calib = study_fakes.calibration()
    curves = replication.pr_curves(calib)
    assert curves.columns.tolist() == ["extractor", "threshold", "precision", "recall"] and len(curves) == 3
    assert replication.extractor_table(calib)["name"].tolist() == ["pixel", "copy_detector"]
    note = replication.calibration_note(calib)
    assert "'pixel', threshold 0.900" in note and "not ranked: dino_vitb16 (no weights)" in note


# --- conditioning ------------------------------------------------------------------------------------------------

def test_conditioning_cells_are_labelled_by_captions_and_duplication():
    training = study_fakes.smoke_params().training
    plain = ModelSpec(dataset="d", captions="class", training=training)
    dup = ModelSpec(dataset="d", captions="instance", training=training,
                    duplication=Duplication(fraction=0.25, factor=5, mode="image"))
    assert conditioning.cell(plain) == {"cell": "class", "caption_kind": "class", "duplication": "none",
                                        "duplication_mode": "none"}
    assert conditioning.cell(dup)["cell"] == "instance, image only dup 0.25x5"
    assert conditioning.cell(dup)["duplication_mode"] == "image"


def test_conditioning_measures_each_cell_and_builds_its_panels(shapes, tmp_path, monkeypatch):
    params = study_fakes.smoke_params(conditioning={"models": ["shapes-1", "cond-dup-pair"], "per_item": 1})
    kinds = {"shapes-1": "unconditional", "cond-dup-pair": "instance"}
    monkeypatch.setattr(conditioning, "load_with_training_images",
                        lambda name: (trained_on(shapes, caption_kind=kinds[name]), shapes.images[:6]))
    table, evaluations = conditioning.measure(study_fakes.study("conditioning", tmp_path, params),
                                              alignment=lambda images, prompts: np.full(len(images), 0.5))
    assert table["cell"].tolist() == ["unconditional", "instance, image+caption dup 0.25x5"]
    assert np.isnan(table.loc[0, "alignment"]) and table.loc[1, "alignment"] == 0.5  # only instance captions
    assert list(conditioning.histogram_panels(table, evaluations)) == table["cell"].tolist()
    assert len(conditioning.gallery_panels(table, evaluations)[table.loc[1, "cell"]][0]) == 6
    assert len(conditioning.most_copied(evaluations, table, n=2)) == 4
    assert set(conditioning.timing(table, evaluations)["seconds_per_image"]) == set(table["cell"])


def _cells(instance_p95, duplicated_p95):
    base = {"similarity_mean": 0.5, "replica_fraction": 0.1, "duplicated_replica_fraction": 0.5,
            "not_duplicated_replica_fraction": 0.0, "not_duplicated_similarity_p95": 0.7}
    return pd.DataFrame([
        {**base, "cell": "unconditional", "caption_kind": "unconditional", "duplication": "none",
         "duplication_mode": "none", "similarity_p95": 0.6},
        {**base, "cell": "instance", "caption_kind": "instance", "duplication": "none", "duplication_mode": "none",
         "similarity_p95": instance_p95, "replica_fraction": 0.0},
        {**base, "cell": "dup", "caption_kind": "instance", "duplication": "image+caption",
         "duplication_mode": "image_caption", "similarity_p95": 0.9, "duplicated_similarity_p95": duplicated_p95},
    ])


def test_conditioning_phenomena_hold_only_when_the_numbers_say_so():
    correctness = {"auc": 0.71, "auc_per_attribute": {"colour": 0.9}}
    metrics = conditioning.headline_metrics(_cells(instance_p95=0.9, duplicated_p95=0.95), correctness, "default")
    assert is_flat(metrics) and metrics["instance_replicates_more"]
    assert metrics["image_caption_duplicated_replicates_more"] and metrics["alignment_auc"] == 0.71
    assert metrics["instance_similarity_p95"] == 0.9 and metrics["unconditional_replica_fraction"] == 0.1
    assert "image_duplicated_replicates_more" not in metrics
    text = conditioning.conclusion(metrics)
    assert "Instance captions replicate more" in text and "p95 0.900 vs 0.600" in text
    assert "Duplicated items replicate more" in text and "p95 0.950 vs 0.700" in text and "50.0% vs 0.0%" in text
    metrics = conditioning.headline_metrics(_cells(instance_p95=0.5, duplicated_p95=0.6), correctness, "default")
    assert not metrics["instance_replicates_more"] and not metrics["image_caption_duplicated_replicates_more"]
    assert conditioning.conclusion(metrics).count("do NOT replicate more") == 2
    assert "0.500 with instance captions against 0.600" in conditioning.caption(metrics)


def test_conditioning_correctness_table_lists_every_attribute():
    table = conditioning.correctness_table({"auc": 0.7, "auc_per_attribute": {"colour": 0.9, "shape": 0.6}})
    assert table.index.tolist() == ["all attributes", "colour", "shape"]


# --- mitigation --------------------------------------------------------------------------------------------------

def _mitigations():
    rows = [("baseline", "none", 0.9, 0.5, 0.30), ("a", "training", 0.8, 0.25, 0.28),
            ("b", "training", 0.8, 0.5, 0.30), ("c", "training", 0.95, 0.0, 0.1),
            ("d", "inference", 0.85, 0.25, 0.2), ("e", "inference", 0.9, 0.25, 0.29)]
    return pd.DataFrame([{"label": m, "mitigation": m, "when": w, "strength": "{}", "similarity_p95": s,
                          "duplicated_replica_fraction": d, "alignment": a, "duplicated_n": 8}
                         for m, w, s, d, a in rows])


def test_mitigation_verdicts_need_fewer_duplicated_replicas_and_no_higher_similarity():
    verdicts = mitigation.verdicts(_mitigations()).set_index("mitigation")
    assert verdicts["lowers_copying"].to_dict() == {"a": True, "b": False, "c": False, "d": True, "e": True}
    assert verdicts.loc["a", "delta_alignment"] == pytest.approx(-0.02)
    assert mitigation.label("rt", "inference", {"n_tokens": 4}) == "rt n_tokens=4 (inference)"
    assert mitigation.label("mc", "training", {}) == "mc (training)"


def test_mitigation_best_is_the_credited_one_with_fewest_replicas_then_best_alignment():
    verdicts = mitigation.verdicts(_mitigations())
    assert mitigation.best(verdicts, "training")["label"] == "a"
    assert mitigation.best(verdicts, "inference")["label"] == "e"  # d ties on replicas but costs more alignment
    assert mitigation.best(verdicts[verdicts["when"] != "training"], "training") is None


def test_mitigation_headline_metrics_and_conclusion():
    table = _mitigations()
    metrics = mitigation.headline_metrics(table, mitigation.verdicts(table), "default")
    assert is_flat(metrics) and len(metrics) <= 15
    assert metrics["mitigations_credited"] == 3 and metrics["mitigations_tested"] == 5
    assert metrics["best_training"] == "a" and metrics["best_training_delta_duplicated_replica_fraction"] == -0.25
    assert metrics["best_inference_delta_alignment"] == pytest.approx(-0.01)
    text = mitigation.conclusion(metrics)
    assert "50.0% of the duplicated items' 8 generations" in text and "one generation is 12.5 points" in text
    assert "3 of 5" in text and "`a`, duplicated replicas -25.0 points" in text
    none = table[table["when"] != "training"]
    assert "No training-time mitigation is credited" in mitigation.conclusion(
        mitigation.headline_metrics(none, mitigation.verdicts(none), "default"))
    assert "p95 0.900, alignment 0.300" in mitigation.caption(metrics)


def test_mitigation_measures_training_and_inference_rows(shapes, tmp_path, monkeypatch):
    params = study_fakes.smoke_params(mitigation={
        "training": ["mit-mc"], "inference": {"rt": {"n_tokens": [1]}, "static_transition": {}}, "per_item": 1})
    monkeypatch.setattr(mitigation, "load_with_training_images",
                        lambda name: (trained_on(shapes, duplicated=(0, 1)), shapes.images[:6]))
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))
    (tmp_path / "data" / "models" / "mit-mc").mkdir(parents=True)
    (tmp_path / "data" / "models" / "mit-mc" / "timing.json").write_text('{"seconds": 12.5}')
    study = study_fakes.study("mitigation", tmp_path / "figures", params)
    table, evaluations = mitigation.measure(study, alignment=lambda images, prompts: np.full(len(images), 0.5))
    assert table.columns.tolist() == mitigation.COLUMNS
    assert table["label"].tolist() == ["baseline", "mc (training)", "rt n_tokens=1 (inference)",
                                       "static_transition (inference)"]
    assert table["unet_evals_per_image"].tolist() == [6.0] * 4 and set(evaluations) == set(table["label"])
    assert list(mitigation.gallery_panels(table, evaluations)) == ["baseline", "mc (training)"]
    assert mitigation.gallery_columns(evaluations) == 2
    timing = mitigation.timing(study, evaluations)
    assert timing["training_seconds"] == {"cond-dup-pair": None, "mit-mc": 12.5}
    assert set(timing["seconds_per_image"]) == set(table["label"])
    assert mitigation.tradeoff_figure(table).axes[0].get_ylabel() == "dataset similarity score (p95)"


# --- detection ---------------------------------------------------------------------------------------------------

def _bench():
    groups = np.array([detection.MEMORIZED, detection.MEMORIZED, detection.UNVERIFIED, *detection.CLEAN,
                       detection.CLEAN[0]])
    return detection.DetectionBenchmark([f"p{i}" for i in range(7)], groups,
                                        np.array([1.0, 0.75, 0.25, 0.0, np.nan, np.nan, 0.5]))


def test_detection_benchmark_groups_and_design():
    bench = _bench()
    assert bench.scored.tolist() == [True, True, False, True, True, True, True]
    design = bench.design()
    assert design[detection.MEMORIZED] == 2 and design["unique training"] == 2 and is_flat(design)
    assert design["replica_rate_duplicated"] == pytest.approx(2 / 3)
    assert design["replica_rate_unique_training"] == pytest.approx(0.25)
    fallback = bench.unverified_as_memorized()
    assert fallback.memorized.sum() == 3 and not fallback.verified and "NOT verified" in fallback.positives
    assert list(bench.group_masks()) == [detection.MEMORIZED, detection.UNVERIFIED, *detection.CLEAN]


def test_detection_ranking_scores_memorized_against_each_clean_group():
    bench = _bench()
    perfect = DetectorScores("perfect", np.array([9, 8, 0, 1, 2, 3, 4.0]), 1, 1, 2.0, 7.0)
    inverted = DetectorScores("inverted", -perfect.scores, 1, 1, 2.0, 7.0)
    board = detection.ranked([inverted, perfect], bench)
    assert board["method"].tolist() == ["perfect", "inverted"] and "seconds_per_prompt" not in board
    assert board.loc[0, "auc"] == 1.0 and board.loc[1, "auc"] == 0.0
    assert board.loc[0, "auc_vs_novel"] == 1.0 and board.loc[0, "auc_vs_random_tokens"] == 1.0
    assert detection.subset(perfect, bench.scored).seconds == pytest.approx(6.0)
    assert detection.timing([perfect], bench) == {"seconds_per_prompt": {"perfect | 1 steps | 1 gen": 1.0}}
    roc = detection.roc_table([perfect, inverted], bench)
    assert roc.columns.tolist() == ["detector", "method", "steps", "generations", "fpr", "tpr"]
    curve = roc[roc["method"] == "perfect"]
    assert curve["fpr"].iloc[0] == 0 and curve["tpr"].iloc[-1] == 1 and curve["detector"].nunique() == 1


def _board(wen_first_1gen=0.68, wen_first_4gen=0.72):
    rows = [(METHOD, 1, 1, wen_first_1gen, 0.0), (METHOD, 1, 4, wen_first_4gen, 0.14), (METHOD, 10, 1, 0.85, 0.29),
            (METHOD, 25, 1, 0.83, 0.07), ("Carlini et al. tiled l2", 25, 4, 0.98, 0.0), ("Ren", 1, 1, 0.5, 0.0)]
    board = pd.DataFrame(rows, columns=["method", "steps", "generations", "auc", "tpr@1%fpr"])
    return board.sort_values("auc", ascending=False, kind="stable").reset_index(drop=True)


def _edits(before=1.0, after=0.5):
    return pd.DataFrame({"magnitude_before": [0.2, 0.4], "magnitude_after": [0.1, 0.3],
                         "replica_rate_before": [before] * 2, "replica_rate_after": [after] * 2})


def test_detection_headline_reads_wens_first_step_with_one_generation():
    metrics = detection.headline_metrics(_board(), _bench(), _edits(), [1, 10], "default")
    assert is_flat(metrics) and len(metrics) <= 15
    assert metrics["wen_first_step_auc"] == 0.68  # the 1-generation row, not the better 4-generation one
    assert metrics["wen_first_step_tpr@1%fpr"] == 0.0 and metrics["wen_10_steps_auc"] == 0.85
    assert metrics["best_peer"] == "Carlini et al. tiled l2" and metrics["best_peer_auc"] == 0.98
    assert metrics["memorized_prompts"] == 2 and metrics["token_edit_magnitude_before"] == pytest.approx(0.3)
    text = detection.conclusion(metrics)
    assert "2 duplicated prompts are verified memorized" in text and "AUC 0.680" in text
    assert "first 10 steps it improves: AUC 0.850" in text and "Carlini et al. tiled l2 (AUC 0.980), above" in text
    assert "lowers the copying" in text and "100.0% → 50.0%" in text
    unverified = detection.headline_metrics(_board(), _bench().unverified_as_memorized(), _edits(1.0, 1.0), [1],
                                            "smoke")
    assert unverified["memorized_prompts"] == 0 and detection.early_steps(unverified) is None
    text = detection.conclusion(unverified)
    assert "No duplicated prompt was verified" in text and "does NOT lower" in text and "first 10" not in text
    assert "0.680, best peer (Carlini et al. tiled l2) 0.980" in detection.caption(metrics)


def test_replica_rate_counts_copies_of_each_prompts_own_image(shapes, tmp_path):
    params = study_fakes.smoke_params(detection={"verify_generations": 2})
    trained = trained_on(shapes, n=6, duplicated=(0, 1))
    everything = detection.replica_rate(study_fakes.study("detection", tmp_path, params, threshold=-1.0), trained,
                                        shapes.images[:6], np.arange(6), trained.prompts)
    nothing = detection.replica_rate(study_fakes.study("detection", tmp_path, params, threshold=1.0), trained,
                                     shapes.images[:6], np.arange(6), trained.prompts)
    assert nothing.tolist() == [0.0] * 6 and set(np.unique(everything)) <= {0.0, 0.5, 1.0}


def test_detection_flow_on_a_tiny_model(shapes, tmp_path):
    """Benchmark (none verified: duplicated prompts stand in), Wen variants, peers, leaderboard, ROC data, token
    edits and headline metrics, as the notebook chains them."""
    params = study_fakes.smoke_params(detection={"n_prompts": 3, "verify_generations": 1, "generations": [1, 2],
                                                 "first_steps": [1, 2], "explain": 1, "batch_size": 8})
    study = study_fakes.study("detection", tmp_path, params, threshold=1.0)
    trained = trained_on(shapes, n=6, duplicated=(0, 1))
    bench = detection.build_benchmark(study, trained, shapes.images[:6], shapes)
    assert not bench.verified and bench.memorized.sum() == 2
    assert bench.design() == {detection.MEMORIZED: 2, detection.UNVERIFIED: 0, "unique training": 3, "novel": 3,
                              "random tokens": 3, "replica_rate_duplicated": 0.0, "replica_rate_unique_training": 0.0}
    assert all(p in {c[0] for c in shapes.captions[6:]} for p in bench.prompts[5:8])
    wen = detection.wen_variants(study, trained.model, bench)
    assert [(s.steps, s.generations) for s in wen.scores] == [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2)]
    curves = detection.magnitude_curves(wen, bench)
    assert set(curves["prompts"]) == {detection.MEMORIZED, *detection.CLEAN} and curves["step"].max() == 3
    peers = detection.peers(study, trained.model, bench)
    board = detection.ranked(wen.scores + peers, bench)
    assert len(board) == 11 and len(detection.roc_table(wen.scores + peers, bench)["detector"].unique()) == 11
    edits = detection.token_edits(study, trained, shapes.images[:6], bench, wen)
    assert len(edits) == 1 and edits.loc[0, "original"] in bench.prompts[:2]
    assert edits.loc[0, "edited"] != edits.loc[0, "original"] and len(edits.attrs["significance"]) == 1
    metrics = detection.headline_metrics(board, bench, edits, params.detection.first_steps, params.scale)
    assert is_flat(metrics) and "wen_2_steps_auc" in metrics and metrics["memorized_prompts"] == 0
    assert "No duplicated prompt was verified" in detection.conclusion(metrics)
