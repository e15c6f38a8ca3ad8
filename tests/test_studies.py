"""The studies' glue in lib: the one generate → embed → match path, per-study tables, headline metrics, verdicts
and conclusions."""
import json
from types import SimpleNamespace

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
from copyscope.data.sources import emoji_set
from copyscope.studies import conditioning, detection, emoji, mitigation, replication
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
                        lambda name, seed=0: (trained_on(shapes, sizes[name]), shapes.images[:sizes[name]]))
    size, results = replication.measure(study_fakes.study("replication", tmp_path, params))
    # smoke trains every sweep model with two seeds: one row per model and seed
    assert size["model"].tolist() == ["shapes-1", "shapes-1", "faces-1", "faces-1"]
    assert size["seed"].tolist() == [0, 1, 0, 1]
    assert size["dataset"].tolist() == ["shapes", "shapes", "faces", "faces"]
    assert size["n_train"].tolist() == [6, 6, 3, 3] and size["n"].tolist() == [4, 4, 4, 4]
    assert {"similarity_median", "train_vs_train_similarity_p95", "frechet_distance"} <= set(size.columns)
    quality = size["frechet_efficientnet_lite0"]  # in ImageNet features, beside the extractor's: first seed only
    assert (quality[size["seed"] == 0] >= 0).all() and quality[size["seed"] > 0].isna().all()
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


def _sweep(scores: dict) -> tuple[pd.DataFrame, list]:
    """A size table and per-seed results from {(dataset, n_train): [top-1 scores of seed 0, of seed 1, ...]}."""
    results = [replication.Replication(f"{dataset}-{n}", dataset, np.zeros((n, 4, 4, 3), np.uint8),
                                       SimpleNamespace(matches=SimpleNamespace(scores=np.asarray(values))), 0.931, k)
               for (dataset, n), seeds in scores.items() for k, values in enumerate(seeds)]
    table = pd.DataFrame([{"model": r.name, "seed": r.seed, "dataset": r.dataset, "n_train": r.n_train,
                           "replica_fraction": float(np.mean(r.generated.matches.scores > 0.931)),
                           "similarity_p95": float(np.percentile(r.generated.matches.scores, 95))} for r in results])
    return table, results


def _falling_faces_flat_shapes():
    rng = np.random.default_rng(0)
    return _sweep({
        ("faces", 10): [rng.uniform(0.85, 0.99, 64), rng.uniform(0.85, 0.99, 64)],
        ("faces", 30): [rng.uniform(0.6, 0.9, 64), rng.uniform(0.6, 0.9, 64)],
        ("faces", 100): [rng.uniform(0.5, 0.7, 64), rng.uniform(0.5, 0.7, 64)],
        ("shapes", 16): [rng.uniform(0.4, 0.72, 64), rng.uniform(0.4, 0.72, 64)],
        ("shapes", 512): [rng.uniform(0.4, 0.72, 64), rng.uniform(0.4, 0.72, 64)],
    })


def test_replication_headline_metrics_carry_intervals_over_seeds_and_verdicts():
    table, results = _falling_faces_flat_shapes()
    metrics = replication.headline_metrics(table, results, study_fakes.calibration(0.931), "default")
    assert is_flat(metrics) and len(metrics) <= 40 and metrics["seeds"] == 2
    assert metrics["extractor"] == "pixel" and metrics["extractor_map"] == 0.3 and metrics["threshold"] == 0.931
    assert metrics["faces_similarity_p95_rho"] == pytest.approx(-1)
    low, high = metrics["faces_similarity_p95_smallest_set_ci95"]
    assert low <= metrics["faces_similarity_p95_smallest_set"] <= high and high - low > 0
    assert metrics["verdict_faces_size"] == "holds" and metrics["faces_size_difference_ci95"][0] > 0
    assert metrics["verdict_shapes_size"] == "not shown at this scale"
    assert metrics["summary"] == "1 of 2 findings hold"
    text = replication.conclusion(metrics)
    assert "mAP 0.300" in text and "0.931" in text and "2 training seed(s)" in text
    assert "**faces**: replication falls" in text and "**shapes**: a fall of replication" in text
    assert "No generation crosses the threshold" in text.split("**shapes**")[1]
    assert replication.describe("faces_size").startswith("faces: copying (p95) falls")


def test_replication_conclusion_says_when_the_threshold_is_not_calibrated():
    table, results = _falling_faces_flat_shapes()
    metrics = replication.headline_metrics(table, results, study_fakes.calibration(0.9, calibrated=False), "smoke")
    assert "fallback 0.900" in replication.conclusion(metrics)


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
    params = study_fakes.smoke_params(conditioning={"models": ["cond-none", "cond-dup-pair"], "per_item": 1})
    kinds = {"cond-none": "unconditional", "cond-dup-pair": "instance"}
    monkeypatch.setattr(conditioning, "load_with_training_images",
                        lambda name, seed=0: (trained_on(shapes, caption_kind=kinds[name]), shapes.images[:6]))
    table, evaluations = conditioning.measure(study_fakes.study("conditioning", tmp_path, params),
                                              alignment=lambda images, prompts: np.full(len(images), 0.5))
    # smoke trains cond-dup-pair with two seeds: one row per model and seed, panels from each cell's first seed
    assert table["cell"].tolist() == ["none", "instance, image+caption dup 0.25x5", "instance, image+caption dup 0.25x5"]
    assert table["seed"].tolist() == [0, 0, 1] and [len(e) for e in evaluations.values()] == [1, 2]
    assert np.isnan(table.loc[0, "alignment"]) and table.loc[1, "alignment"] == 0.5  # only instance captions
    assert list(conditioning.histogram_panels(table, evaluations)) == table["cell"].unique().tolist()
    assert len(conditioning.gallery_panels(table, evaluations)[table.loc[1, "cell"]][0]) == 6
    assert len(conditioning.most_copied(evaluations, table, n=2)) == 4
    assert set(conditioning.timing(table, evaluations)["seconds_per_image"]) == set(table["cell"])


def _cells(instance: tuple, duplicated: tuple, seeds: int = 3):
    """A cells table and per-seed evaluations: unconditional, instance and an image+caption duplicated cell of 8
    items (2 duplicated), 4 generations each; top-1 scores uniform in `instance` for the instance cell and in
    `duplicated` for the duplicated items, in (0.5, 0.7) elsewhere."""
    rng = np.random.default_rng(0)
    items, duplicated_items = np.repeat(np.arange(8), 4), np.arange(8) < 2
    cells = {"uncond": ("unconditional", "none", "none"), "inst": ("instance", "none", "none"),
             "dup": ("instance", "image+caption", "image_caption")}
    rows, evaluations = [], {}
    for model, (kind, duplication, mode) in cells.items():
        evaluations[model] = []
        for k in range(seeds):
            scores = rng.uniform(0.5, 0.7, len(items))
            if model == "inst":
                scores = rng.uniform(*instance, len(items))
            if model == "dup":
                scores = np.where(duplicated_items[items], rng.uniform(*duplicated, len(items)), scores)
            copying = CopyingScores(SimpleNamespace(scores=scores, indices=items), items, duplicated_items, 0.8)
            evaluations[model].append(SimpleNamespace(copying=copying))
            rows.append({"model": model, "seed": k, "cell": model, "caption_kind": kind, "duplication": duplication,
                         "duplication_mode": mode, **copying.summary()})
    return pd.DataFrame(rows), evaluations


def test_conditioning_phenomena_hold_only_when_the_intervals_say_so():
    correctness = {"auc": 0.71, "auc_per_attribute": {"colour": 0.9}}
    table, evaluations = _cells(instance=(0.8, 0.95), duplicated=(0.9, 1.0))
    metrics = conditioning.headline_metrics(table, evaluations, correctness, "default")
    assert is_flat(metrics) and len(metrics) <= 40 and metrics["seeds"] == 3 and metrics["alignment_auc"] == 0.71
    assert metrics["verdict_captions"] == "holds" and metrics["verdict_image_caption_duplication"] == "holds"
    assert "verdict_image_duplication" not in metrics and metrics["summary"] == "2 of 2 findings hold"
    low, high = metrics["instance_similarity_p95_ci95"]
    assert low <= metrics["instance_similarity_p95"] <= high
    assert metrics["image_caption_duplicated_replica_fraction"] > 0.5 > metrics["unconditional_replica_fraction"]
    text = conditioning.conclusion(metrics)
    assert "**Captions.** Instance captions against unconditional training of the same images: holds" in text
    assert "**Duplication (image+caption).** Duplicated items against the model's other items: holds" in text
    table, evaluations = _cells(instance=(0.5, 0.7), duplicated=(0.5, 0.7))
    metrics = conditioning.headline_metrics(table, evaluations, correctness, "default")
    assert metrics["verdict_captions"] == metrics["verdict_image_caption_duplication"] == "not shown at this scale"
    assert conditioning.conclusion(metrics).count("not shown at this scale") == 2
    assert "with instance captions against" in conditioning.caption(metrics)


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
                           "alignment": {"d": 0.2, "e": 0.3}.get(m, 0.25), "descent_iterations_mean": np.nan,
                           "seeds": 1 if w == "inference" or m == "baseline (inference)" else 3,
                           "change_by_seed": json.dumps([c] if w == "inference" else [c - 0.1, c, c + 0.1])}
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
    assert is_flat(metrics) and len(metrics) <= 40 and metrics["seeds"] == 3  # the twins'; the inference model is one
    # the largest point fall of each kind, judged by its interval (a: [-0.4, -0.1]; d before e on the fall)
    assert metrics["verdict_training_time"] == "holds" and metrics["training_time_difference_ci95"] == [-0.4, -0.1]
    assert metrics["verdict_inference_time"] == "holds" and metrics["summary"] == "2 of 2 findings hold"
    assert metrics["inference_time_seeds"] == 1 and "training_time_seeds" not in metrics  # the verdict table's seeds
    assert metrics["baseline_memorized_replica_rate"] == 0.8 and metrics["training_baseline_replica_rate"] == 0.5
    assert metrics["baseline_memorized_replica_rate_ci95"] == [pytest.approx(0.7), pytest.approx(0.9)]
    assert metrics["mitigations_credited"] == 3 and metrics["mitigations_tested"] == 5
    assert metrics["best_training"] == "a" and metrics["best_training_change_ci95"] == [-0.4, -0.1]
    text = mitigation.conclusion(metrics)
    assert "16 verified memorized prompts replicate 80.0% [70.0%, 90.0%]" in text
    assert "16 verified memorized prompts (over its 3 training seeds) 50.0% [40.0%, 60.0%]" in text
    assert "3 of 5 settings lower copying" in text and "`a`, replica rate change [-40.0 points, -10.0 points]" in text
    none = _mitigations()
    none.loc[none["when"] == "training", "verdict"] = mitigation.NOT_SHOWN
    assert "No training-time mitigation is shown to lower copying" in mitigation.conclusion(
        mitigation.headline_metrics(none, "default"))
    assert "3 of 5 settings lower copying" in mitigation.caption(metrics)
    figure = mitigation.changes_figure(_mitigations())
    assert len(figure.axes[0].get_yticklabels()) == 5
    assert len(figure.axes[0].collections[-1].get_offsets()) == 2 * 3  # each training seed of the two twins
    no_twin = mitigation.headline_metrics(_mitigations().iloc[3:], "default")  # a scale without training-time cells
    assert no_twin["training_baseline_prompts"] is None and no_twin["training_baseline_replica_rate"] is None
    assert no_twin["seeds"] == 1
    assert "no training-time twin is trained at this scale" in mitigation.conclusion(no_twin)
    assert len(mitigation.changes_figure(_mitigations().iloc[3:]).axes[0].get_yticklabels()) == 3


def test_mitigation_measures_memorized_prompts_of_both_baselines(scenes, tmp_path, monkeypatch):
    params = study_fakes.smoke_params(mitigation={
        "training": ["mit-mc"], "inference": {"rt": {"n_tokens": [1]}, "embedding_optimisation": {"target": [0.0]}},
        "per_item": 2})
    trained = trained_on(scenes, n=8, duplicated=(6, 7))  # 2 MV prompts and 2 TV families
    monkeypatch.setattr(mitigation, "load_with_training_images", lambda name, seed=0: (trained, scenes.images[:8]))
    monkeypatch.setattr(mitigation, "verify", lambda trained, images, candidates, *args: Verified(
        candidates, np.array([1.0, 1.0, 0.0, 0.5]), 2))  # the first TV family is not memorized
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))
    (tmp_path / "data" / "models" / "mit-mc" / "seed-0").mkdir(parents=True)
    (tmp_path / "data" / "models" / "mit-mc" / "seed-0" / "timing.json").write_text('{"seconds": 12.5}')
    study = study_fakes.study("mitigation", tmp_path / "figures", params, threshold=-1.0)  # every match a replica
    table, cells, seconds = mitigation.measure(study, alignment=lambda images, prompts: np.full(len(images), 0.5))
    assert table["label"].tolist() == ["baseline (training)", "mc (training)", "baseline (inference)",
                                       "rt n_tokens=1 (inference)", "embedding_optimisation target=0.0 (inference)"]
    twins = table["when"] != "inference"
    twins.iloc[2] = False  # the inference baseline
    assert (table["seeds"] == np.where(twins, 2, 1)).all()  # the smoke twins' 2 training seeds, each on its prompts
    assert (table["prompts"] == np.where(twins, 6, 3)).all() and (table["generations"] == 2 * table["prompts"]).all()
    assert table["change_by_seed"].map(json.loads).map(len).tolist() == [2, 2, 1, 1, 1]
    assert table["prompts_verified"].all()
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
    assert is_flat(metrics) and len(metrics) <= 45
    assert metrics["wen_first_step_n1_auc"] == 0.97 and metrics["wen_first_step_n1_auc_ci95"] == [
        pytest.approx(0.92), 0.99]
    assert metrics["wen_first_step_n1_tpr_at_1pct_fpr"] == 0.8 and metrics["wen_t981_n1_auc"] == 0.96
    assert metrics["wen_first_step_n1_auc_untrained"] == 0.52 and metrics["untrained_auc_min"] == 0.45
    assert metrics["memorized_prompts"] == 2 and metrics["memorized_mv"] == 1 and metrics["memorized_tv"] == 1
    assert metrics["clean_prompts"] == 4 and metrics["best_peer"] == "Carlini et al. tiled l2"
    assert metrics["top_token_is_trigger_fraction"] == 0.5 and metrics["top_token_is_trigger_chance"] == 0.25
    assert metrics["token_edit_replica_rate_change_ci95"] == [-0.75, -0.75]
    assert metrics["verdict_wen_first_step"] == "holds" and metrics["wen_first_step_difference"] == pytest.approx(0.47)
    assert metrics["verdict_token_edit"] == "holds" and metrics["seeds"] == 1
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
    control, control_bench = detection.control(study, bench)
    assert control_bench.prompts == bench.subsample(study.section.control_share, 0).prompts
    assert len(control[0].scores) == len(control_bench.prompts) < len(bench.prompts)
    half = bench.subsample(0.5, seed=0)
    assert half.prompts == [p for p in bench.prompts if p in half.prompts]  # order kept
    for kind in set(bench.kinds):  # every kind keeps about half of its prompts, at least one
        assert (half.kinds == kind).sum() == max(1, round(0.5 * (bench.kinds == kind).sum()))
    assert half.prompts == bench.subsample(0.5, seed=0).prompts
    board = detection.full_leaderboard(detection.ranked(wen.scores + peers, bench, 0),
                                       detection.ranked(control, control_bench, 0, detection.UNTRAINED))
    assert len(board) == 22 and len(detection.roc_table(wen.scores + peers, bench)["detector"].unique()) == 11
    edits = detection.token_edits(study, trained, scenes.images[:12], bench)
    assert len(edits) == 2 and set(edits["original"]) <= set(bench.prompts[:2])
    assert (edits["edited"] != edits["original"]).all() and len(edits.attrs["significance"]) == 2
    assert detection.significance_figure(edits, 1).axes
    metrics = detection.headline_metrics(board, bench, edits, 0, params.scale)
    assert is_flat(metrics) and metrics["memorized_prompts"] == 0
    assert metrics["untrained_auc_min"] is not None
    assert "No prompt was verified memorized" in detection.conclusion(metrics)


# --- emoji (replication on real data) ------------------------------------------------------------------------------

def test_the_emoji_copy_benchmark_holds_one_emoji_per_family_outside_the_training_pool():
    pool = emoji_set(16, {1: 4, 6: 1}, seed=0)
    others = emoji.heldout(pool)
    assert len(set(others.labels)) == len(others) and not set(others.labels) & set(pool.labels)
    everything = emoji_set(16)
    assert len(others) == len(set(everything.labels) - set(pool.labels))  # every other family, once
    assert others.ids[0] == everything.ids[everything.labels.index(others.labels[0])]  # its first member


def test_the_distinct_design_threshold_ignores_an_images_own_family():
    # a and a' are one family (near-identical); b, c, d are different designs, pairwise at 0.0 or 0.6
    embeddings = np.array([[1.0, 0.0, 0.0], [0.99, 0.141, 0.0], [0.0, 1.0, 0.0], [0.0, 0.6, 0.8], [0.0, 0.0, 1.0]])
    families = ["a", "a", "b", "c", "d"]
    nearest_other = [0.0, 0.141, 0.6, 0.8, 0.8]  # a and a' (0.99 alike) are not each other's nearest
    assert emoji.distinct_design_threshold(embeddings, families, 1.0) == pytest.approx(max(nearest_other))
    assert emoji.distinct_design_threshold(embeddings, families, 0.5) == pytest.approx(np.median(nearest_other))
    with pytest.raises(ValueError, match="two families"):
        emoji.distinct_design_threshold(embeddings, ["a"] * 5, 0.95)


def test_emoji_section_measures_families_with_every_extractor_and_judges_them(tmp_path, monkeypatch):
    pool = emoji_set(16, {1: 4, 6: 1}, seed=0)
    trained = trained_on(pool, n=len(pool), duplicated=())
    monkeypatch.setattr(emoji, "training_pool", lambda study: pool)
    monkeypatch.setattr(emoji, "load_with_training_images", lambda name, seed=0: (trained, pool.images))
    study = study_fakes.study("replication", tmp_path, study_fakes.smoke_params(replication={"emoji_per_item": 2}))
    extractors = {"pixel": PixelExtractor(8), "coarse": PixelExtractor(4)}
    results = emoji.measure(study, extractors, {"pixel": -1.0, "coarse": 2.0})  # every one a replica, none
    seeds = study.params.models["emoji"].seeds
    assert len(results.table) == seeds * 2 * len(pool)  # a row per seed, extractor and emoji
    assert sorted(results.table["family_size"].unique()) == [1, 6]
    by = results.table.groupby("extractor")["replica_rate"]
    assert (by.min()["pixel"], by.max()["coarse"]) == (1.0, 0.0)
    families = emoji.by_family_size(results.table)
    assert families[["extractor", "family_size"]].values.tolist() == [["coarse", 1], ["coarse", 6], ["pixel", 1],
                                                                      ["pixel", 6]]
    assert (families["low"] <= families["replica_rate"]).all() and (families["replica_rate"] <= families["high"]).all()
    generations, nearest, scores = results.gallery_panel("pixel")
    assert len(generations) == len(nearest) == len(scores) == 2 * len(pool)
    bench = pd.DataFrame([{"name": "pixel", "mAP": 0.7, "R@1": 0.6, "threshold": 0.5},
                          {"name": "coarse", "mAP": 0.4, "R@1": 0.3, "threshold": np.nan}])
    thresholds = emoji.design_thresholds(study, extractors)
    assert set(thresholds) == {"pixel", "coarse"} and all(-1 <= t <= 1 for t in thresholds.values())
    metrics = emoji.headline_metrics(bench, results.table, thresholds)
    assert metrics["emoji_extractor"] == "pixel" and metrics["emoji_pixel_map"] == 0.7
    assert metrics["emoji_threshold"] == thresholds["pixel"]
    assert metrics["emoji_family_replica_rate"] == metrics["emoji_single_replica_rate"] == 1.0
    assert {"verdict_emoji_families_pixel", "verdict_emoji_families_coarse"} <= set(metrics)
    assert metrics["verdict_emoji_families_pixel"] == "not shown at this scale"  # 100% against 100%
    assert "judged by `coarse`" in emoji.conclusion(metrics)
