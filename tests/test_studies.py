"""The studies' glue in lib: the one generate → embed → match path, per-study tables, headline metrics, verdicts
and conclusions."""
import numpy as np
import pandas as pd
import pytest

from copyscope.config import Duplication, ModelSpec, Sampling
from copyscope.data.training_set import MV, TV, UNIQUE
from copyscope.detection.common import DetectorScores
from copyscope.detection.magnitude import METHOD
from copyscope.embed.pixel import PixelExtractor
from copyscope.metrics import uncertainty
from copyscope.metrics.copying import CopyingScores
from copyscope.metrics.replication import nearest_training, train_vs_train
from copyscope.report import is_flat
from copyscope.sampling import generate
from copyscope.studies import conditioning, detection, mitigation, replication
from copyscope.studies.evaluation import Matcher, evaluate, generate_and_match
from copyscope.studies.verification import Verified
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
    rows = [("baseline (training)", "none", 0.5, 0.0, 0.0, 0.0), ("a", "training", 0.25, -0.25, -0.4, -0.1),
            ("b", "training", 0.5, 0.0, -0.2, 0.2), ("baseline (inference)", "none", 0.8, 0.0, 0.0, 0.0),
            ("d", "inference", 0.55, -0.25, -0.35, -0.15), ("e", "inference", 0.55, -0.25, -0.3, -0.2),
            ("f", "inference", 0.9, 0.1, 0.05, 0.15)]
    table = pd.DataFrame([{"label": m, "mitigation": "baseline" if w == "none" else m, "when": w, "strength": "{}",
                           "replica_rate": r, "replica_rate_low": r - 0.1, "replica_rate_high": r + 0.1,
                           "change": c, "change_low": lo, "change_high": hi, "prompts": 16, "prompts_verified": True,
                           "alignment": {"d": 0.2, "e": 0.3}.get(m, 0.25), "descent_iterations_mean": np.nan}
                          for m, w, r, c, lo, hi in rows])
    table["baseline"] = ["baseline (training)"] * 3 + ["baseline (inference)"] * 4
    table["verdict"] = [mitigation.verdict(uncertainty.Estimate(c, lo, hi, 16)) if w != "none" else ""
                        for _, w, _, c, lo, hi in rows]
    return table


def test_mitigation_verdict_comes_from_the_interval_of_the_change():
    assert mitigation.verdict(uncertainty.Estimate(-0.2, -0.3, -0.01, 8)) == mitigation.LOWERS
    assert mitigation.verdict(uncertainty.Estimate(-0.2, -0.3, 0.01, 8)) == mitigation.NOT_SHOWN
    assert mitigation.verdict(uncertainty.Estimate(0.2, 0.01, 0.3, 8)) == mitigation.RAISES
    assert mitigation.label("rt", "inference", {"n_tokens": 4}) == "rt n_tokens=4 (inference)"
    assert mitigation.label("mc", "training", {}) == "mc (training)"


def test_mitigation_best_is_the_credited_one_with_the_largest_fall_then_best_alignment():
    table = _mitigations()
    assert mitigation.best(table, "training")["label"] == "a"
    assert mitigation.best(table, "inference")["label"] == "e"  # d ties on the fall but costs more alignment
    assert mitigation.best(table[table["when"] != "training"], "training") is None


def test_mitigation_headline_metrics_and_conclusion():
    metrics = mitigation.headline_metrics(_mitigations(), "default")
    assert is_flat(metrics) and len(metrics) <= 17
    assert metrics["baseline_memorized_replica_rate"] == 0.8 and metrics["training_baseline_replica_rate"] == 0.5
    assert metrics["baseline_memorized_replica_rate_ci95"] == [pytest.approx(0.7), pytest.approx(0.9)]
    assert metrics["mitigations_credited"] == 3 and metrics["mitigations_tested"] == 5
    assert metrics["best_training"] == "a" and metrics["best_training_change_ci95"] == [-0.4, -0.1]
    text = mitigation.conclusion(metrics)
    assert "16 verified memorized prompts replicate 80.0% [70.0%, 90.0%]" in text
    assert "3 of 5 settings lower copying" in text and "`a`, replica rate change [-40.0 points, -10.0 points]" in text
    none = _mitigations()
    none.loc[none["when"] == "training", "verdict"] = mitigation.NOT_SHOWN
    assert "No training-time mitigation is shown to lower copying" in mitigation.conclusion(
        mitigation.headline_metrics(none, "default"))
    assert "3 of 5 settings lower copying" in mitigation.caption(metrics)
    assert len(mitigation.changes_figure(_mitigations()).axes[0].get_yticklabels()) == 5


def test_mitigation_measures_memorized_prompts_of_both_baselines(scenes, tmp_path, monkeypatch):
    params = study_fakes.smoke_params(mitigation={
        "training": ["mit-mc"], "inference": {"rt": {"n_tokens": [1]}, "embedding_optimisation": {"target": [0.0]}},
        "per_item": 2})
    trained = trained_on(scenes, n=8, duplicated=(6, 7))  # 2 MV prompts and 2 TV families
    monkeypatch.setattr(mitigation, "load_with_training_images", lambda name: (trained, scenes.images[:8]))
    monkeypatch.setattr(mitigation, "verify", lambda trained, images, candidates, *args: Verified(
        candidates, np.array([1.0, 1.0, 0.0, 0.5]), 2))  # the first TV family is not memorized
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))
    (tmp_path / "data" / "models" / "mit-mc").mkdir(parents=True)
    (tmp_path / "data" / "models" / "mit-mc" / "timing.json").write_text('{"seconds": 12.5}')
    study = study_fakes.study("mitigation", tmp_path / "figures", params, threshold=-1.0)  # every match a replica
    table, cells, seconds = mitigation.measure(study, alignment=lambda images, prompts: np.full(len(images), 0.5))
    assert table["label"].tolist() == ["baseline (training)", "mc (training)", "baseline (inference)",
                                       "rt n_tokens=1 (inference)", "embedding_optimisation target=0.0 (inference)"]
    assert (table["prompts"] == 3).all() and (table["generations"] == 6).all() and table["prompts_verified"].all()
    assert table["baseline"].tolist() == ["baseline (training)"] * 2 + ["baseline (inference)"] * 3
    optimised = table.iloc[-1]
    assert optimised["descent_iterations_mean"] == 10 and optimised["unet_evals_per_image"] == 6 + 1 + 10
    assert optimised["magnitude_after"] < optimised["magnitude_before"]
    assert list(mitigation.gallery_panels(cells)) == ["baseline (training)", "mc (training)", "baseline (inference)"]
    timing = mitigation.timing(study, cells, seconds)
    assert timing["training_seconds"] == {"mit-base": None, "mit-mc": 12.5} and timing["seconds"] > 0
    assert mitigation.tradeoff_figure(table).axes[0].get_ylabel() == "replica rate (memorized prompts)"


# --- detection ---------------------------------------------------------------------------------------------------

def _bench():
    groups = np.array([detection.MEMORIZED, detection.MEMORIZED, detection.UNVERIFIED, *detection.CLEAN,
                       detection.CLEAN[0]])
    kinds = np.array([MV, TV, MV, UNIQUE, "novel", "random tokens", UNIQUE])
    return detection.DetectionBenchmark([f"p{i}" for i in range(7)], groups, kinds,
                                        np.array([1.0, 0.75, 0.25, 0.0, np.nan, np.nan, 0.25]))


def test_detection_benchmark_groups_and_design():
    bench = _bench()
    assert bench.scored.tolist() == [True, True, False, True, True, True, True]
    assert bench.clean.tolist() == [False, False, False, True, True, True, True]
    design = bench.design().set_index("kind")
    assert design.loc[MV, "prompts"] == 2 and design.loc[MV, "memorized"] == 1
    assert design.loc[MV, "replica_rate"] == pytest.approx(0.625) and design.loc[UNIQUE, "replica_rate"] == 0.125
    assert np.isnan(design.loc["novel", "replica_rate"])
    fallback = bench.unverified_as_memorized()
    assert fallback.memorized.sum() == 3 and not fallback.verified and "NOT verified" in fallback.positives
    assert list(bench.group_masks()) == [detection.MEMORIZED, detection.UNVERIFIED, *detection.CLEAN]


def test_detection_ranking_scores_memorized_against_each_clean_group_with_intervals():
    bench = _bench()
    perfect = DetectorScores("perfect", np.array([9, 8, 0, 1, 2, 3, 4.0]), 1, 1, 2.0, 7.0)
    inverted = DetectorScores("inverted", -perfect.scores, 1, 1, 2.0, 7.0)
    board = detection.ranked([inverted, perfect], bench, seed=0)
    assert board["method"].tolist() == ["perfect", "inverted"] and "seconds_per_prompt" not in board
    assert board.loc[0, "auc"] == 1.0 and board.loc[1, "auc"] == 0.0 and (board["model"] == detection.TRAINED).all()
    assert board.loc[0, "auc_low"] <= 1.0 == board.loc[0, "auc_high"]
    assert board.loc[0, "auc_vs_novel"] == 1.0 and board.loc[0, "auc_MV_vs_clean"] == 1.0
    assert detection.subset(perfect, bench.scored).seconds == pytest.approx(6.0)
    assert detection.timing([perfect], bench) == {"seconds_per_prompt": {"perfect | 1 steps | 1 gen": 1.0}}
    roc = detection.roc_table([perfect, inverted], bench)
    assert roc.columns.tolist() == ["detector", "method", "steps", "generations", "fpr", "tpr"]
    both = detection.full_leaderboard(board, detection.ranked([perfect], bench, 0, detection.UNTRAINED))
    assert both["model"].tolist() == [detection.TRAINED] * 2 + [detection.UNTRAINED]


def _board(first=0.97, control=0.52):
    rows = []
    for model, auc in ((detection.TRAINED, first), (detection.UNTRAINED, control)):
        for method, steps, generations, value in ((METHOD, 1, 1, auc), (METHOD, 1, 4, auc), (METHOD, 10, 1, auc),
                                                  (f"{METHOD} at t=981", 1, 1, auc - 0.01),
                                                  ("Carlini et al. tiled l2", 10, 4, 0.6 if auc > 0.9 else 0.45)):
            rows.append({"model": model, "method": method, "steps": steps, "generations": generations,
                         "auc": value, "auc_low": value - 0.05, "auc_high": min(1, value + 0.02),
                         "tpr@1%fpr": 0.8, "tpr@1%fpr_low": 0.6, "tpr@1%fpr_high": 0.9, "auc_vs_unique_training": 0.9,
                         "auc_vs_novel": 0.95, "auc_vs_random_tokens": 1.0})
    return pd.DataFrame(rows)


def _edits(before=1.0, after=0.25):
    return pd.DataFrame({"top_is_title": [True, False], "title_share": [0.25, 0.25],
                         "magnitude_before": [1.2, 1.4], "magnitude_after": [0.5, 0.7],
                         "replica_rate_before": [before] * 2, "replica_rate_after": [after] * 2})


def test_detection_headline_reads_wens_first_step_with_one_generation_and_the_control():
    metrics = detection.headline_metrics(_board(), _bench(), _edits(), 0, "default")
    assert is_flat(metrics) and len(metrics) <= 40
    assert metrics["wen_first_step_n1_auc"] == 0.97 and metrics["wen_first_step_n1_auc_ci95"] == [
        pytest.approx(0.92), 0.99]
    assert metrics["wen_first_step_n1_tpr_at_1pct_fpr"] == 0.8 and metrics["wen_t981_n1_auc"] == 0.96
    assert metrics["wen_first_step_n1_auc_untrained"] == 0.52 and metrics["untrained_auc_min"] == 0.45
    assert metrics["memorized_prompts"] == 2 and metrics["memorized_mv"] == 1 and metrics["memorized_tv"] == 1
    assert metrics["clean_prompts"] == 4 and metrics["best_peer"] == "Carlini et al. tiled l2"
    assert metrics["top_token_is_trigger_fraction"] == 0.5 and metrics["top_token_is_trigger_chance"] == 0.25
    assert metrics["token_edit_replica_rate_change_ci95"] == [-0.75, -0.75]
    text = detection.conclusion(metrics)
    assert "2 prompts are verified memorized (1 matching verbatim, 1 template verbatim" in text
    assert "AUC 0.970 [0.920, 0.990]" in text and "as strong as" in text and "near chance" in text
    assert "Dropping it lowers the copying" in text and "100.0% → 25.0%" in text
    leaky = detection.headline_metrics(_board(control=0.9), _bench().unverified_as_memorized(), _edits(1.0, 1.0),
                                       0, "smoke")
    text = detection.conclusion(leaky)
    assert leaky["memorized_prompts"] == 0 and "No prompt was verified memorized" in text
    assert "NOT all near chance" in text and "is NOT shown to lower" in text
    assert "AUC 0.970 [0.920, 0.990]" in detection.caption(metrics)


def test_random_prompts_take_the_captions_form():
    rng = np.random.default_rng(0)
    prompts = detection.random_prompts(rng, 3, ["kazorvel"])
    assert all(p.endswith(", titled kazorvel") and len(p.split(",")[0].split()) == 4 for p in prompts)
    assert detection.title_of("a red circle, titled kazorvel") == "kazorvel" and detection.title_of("x") is None


def test_detection_flow_on_a_tiny_model(scenes, tmp_path, monkeypatch):
    """Benchmark (none verified: duplicated prompts stand in), Wen variants, peers, the control, leaderboard, ROC
    data, token edits and headline metrics, as the notebook chains them."""
    params = study_fakes.smoke_params(detection={"n_prompts": 3, "verify_generations": 1, "generations": [1, 2],
                                                 "first_steps": [1, 2], "explain": 1, "batch_size": 8})
    study = study_fakes.study("detection", tmp_path, params, threshold=1.0)
    trained = trained_on(scenes, n=12, duplicated=(6, 7))
    bench = detection.build_benchmark(study, trained, scenes.images[:12], scenes)
    assert not bench.verified and bench.memorized.sum() == 4  # 2 MV and 2 TV families stand in
    assert bench.kinds[:4].tolist() == [MV, MV, TV, TV] and (bench.groups == detection.CLEAN[0]).sum() == 3
    assert all(p in {c[0] for c in scenes.captions[12:]} for p in bench.prompts[7:10])
    wen = detection.wen_variants(study, trained.model, bench)
    assert [(s.steps, s.generations) for s in wen.scores] == [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (1, 1)]
    assert wen.scores[-1].method.endswith("t=981")
    peers = detection.peers(study, trained.model, bench)
    monkeypatch.setattr(detection, "untrained_model", lambda params, name: study_fakes.tiny_model(seed=1))
    control = detection.control(study, bench)
    board = detection.full_leaderboard(detection.ranked(wen.scores + peers, bench, 0),
                                       detection.ranked(control, bench, 0, detection.UNTRAINED))
    assert len(board) == 22 and len(detection.roc_table(wen.scores + peers, bench)["detector"].unique()) == 11
    edits = detection.token_edits(study, trained, scenes.images[:12], bench)
    assert len(edits) == 2 and set(edits["original"]) <= set(bench.prompts[:2])
    assert (edits["edited"] != edits["original"]).all() and len(edits.attrs["significance"]) == 2
    assert detection.significance_figure(edits, 1).axes
    metrics = detection.headline_metrics(board, bench, edits, 0, params.scale)
    assert is_flat(metrics) and metrics["memorized_prompts"] == 0
    assert metrics["untrained_auc_min"] is not None
    assert "No prompt was verified memorized" in detection.conclusion(metrics)
