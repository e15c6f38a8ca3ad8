"""Paper A: the copy benchmark's choice of extractor, each model's generations against its training set, and
replication against training-set size, as tables, headline metrics and a conclusion drawn from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from copyscope import quality
from copyscope.artifacts.calibration import Calibration
from copyscope.artifacts.models import TrainedModel, load_with_training_images
from copyscope.metrics.replication import summarize
from copyscope.metrics.uncertainty import HOLDS, Seeded, hierarchical
from copyscope.report import headline
from copyscope.studies import emoji
from copyscope.studies.evaluation import Matched, generate_and_match
from copyscope.studies.prose import interval, num, pct, rho
from copyscope.studies.session import Study
from copyscope.studies.verdicts import PREFIX, phrase, record, summary

TITLE = "Replication vs training-set size (paper A)"
KEY_FIGURE = "size_curve.png"
TRENDS = ("replica_fraction", "similarity_p95")  # the size.csv columns whose trend with n_train is reported


@dataclass
class Replication:
    """Generations of one model against its training set, in one extractor's space."""

    name: str
    dataset: str
    training_images: np.ndarray
    generated: Matched
    threshold: float
    seed: int = 0  # training seed index
    unconditional: bool = True  # then every generation is its own unit; else the training item it was prompted by
    frechet_features: float | None = None  # Fréchet distance in pretrained features (`quality`; first seed only)

    @property
    def units(self) -> np.ndarray:
        """What the bootstrap resamples: independent draws, or the prompts (training items) generations share."""
        n = len(self.generated.matches.scores)
        return np.arange(n) if self.unconditional else np.arange(n) % self.n_train

    @property
    def n_train(self) -> int:
        return len(self.training_images)

    @property
    def title(self) -> str:
        return f"{self.name} (n={self.n_train})"

    def row(self) -> dict:
        """The copying summary of the generations and of train vs train, and the Fréchet distances (in the study's
        extractor space, and in EfficientNet-Lite0's ImageNet features: FID's formula, not Inception FID). The size table
        has always summarised in float64 (the other studies in the search's float32): kept, so its numbers stay
        bit for bit what they were."""
        generated = summarize(self.generated.matches.scores.astype(np.float64), self.threshold)
        baseline = summarize(self.generated.baseline.scores.astype(np.float64), self.threshold)
        del baseline["n"]  # n_train
        return {"model": self.name, "seed": self.seed, "dataset": self.dataset, "n_train": self.n_train, **generated,
                **{f"train_vs_train_{k}": v for k, v in baseline.items()},
                "frechet_distance": self.generated.frechet, quality.COLUMN: self.frechet_features}


def extractor_table(calibration: Calibration) -> pd.DataFrame:
    """The copy benchmark's ranking, one row per extractor, best mAP first."""
    return pd.DataFrame(calibration.table)


def calibration_note(calibration: Calibration) -> str:
    """Which extractor the studies use, its threshold, and the candidates that could not be ranked."""
    state = "calibrated" if calibration.calibrated else "NOT calibrated: the configured fallback"
    lines = [f"chosen extractor: {calibration.extractor!r}, threshold {calibration.threshold:.3f} at precision "
             f"{calibration.precision:g} ({state})"]
    lines += [f"not ranked: {name} ({reason.split('. ')[0]})" for name, reason in calibration.skipped.items()]
    return "\n".join(lines)


def pr_curves(calibration: Calibration) -> pd.DataFrame:
    """Every ranked extractor's precision-recall curve in long format: extractor, threshold, precision, recall."""
    frames = [pd.DataFrame(points).assign(extractor=name) for name, points in calibration.curves.items()]
    return pd.concat(frames, ignore_index=True)[["extractor", "threshold", "precision", "recall"]]


def prompts_for(trained: TrainedModel, n: int) -> list[str]:
    """n generation prompts: the model's training prompts in order, cycled ("" for unconditional models)."""
    prompts = trained.prompts
    return [prompts[i % len(prompts)] for i in range(n)]


def measure(study: Study) -> tuple[pd.DataFrame, list[Replication]]:
    """Every training seed of every model of the study: `n_generations` seeded generations matched against its own
    training images; the size table (one row per model and seed; the Fréchet distance in EfficientNet-Lite0
    features for the first seed only, its 224-px embedding being the study's slowest step on a CPU) and the per-seed
    results."""
    params, results = study.params, []
    pretrained_frechet = quality.PretrainedFrechet()
    for name in study.section.models:
        for k in range(params.models[name].seeds):
            trained, training_images = load_with_training_images(name, k)
            generated = generate_and_match(trained, training_images, prompts_for(trained, study.section.n_generations),
                                           study.matcher, params.seed, study.sampling)
            frechet = pretrained_frechet(generated.generations, training_images) if k == 0 else None
            results.append(Replication(name, params.models[name].dataset, training_images, generated,
                                       study.threshold, k, trained.record["caption_kind"] == "unconditional", frechet))
    return pd.DataFrame([r.row() for r in results]), results


def histogram_panels(results: list[Replication]) -> dict[str, dict[str, np.ndarray]]:
    """Per model (its first seed): the generations' top-1 similarities beside the train-vs-train reference."""
    return {r.title: {"generation vs train": r.generated.matches.scores, "train vs train": r.generated.baseline.scores}
            for r in results if r.seed == 0}


def gallery_panels(results: list[Replication]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per model (its first seed): generations, their nearest training images and the similarities."""
    return {r.title: (r.generated.generations, r.training_images[r.generated.matches.indices],
                      r.generated.matches.scores) for r in results if r.seed == 0}


def size_trend(table: pd.DataFrame, column: str = "replica_fraction") -> dict:
    """Does replication fall as the training set grows? Spearman's rank correlation of `column` (averaged over
    seeds) with n_train (NaN for a constant column or a single set), and the values at the smallest and the largest
    set."""
    ordered = table.groupby("n_train", as_index=False)[column].mean().sort_values("n_train")  # over seeds
    values = ordered[column].to_numpy(dtype=float)
    constant = len(values) < 2 or bool(np.all(values == values[0]))
    rho_value = float("nan") if constant else stats.spearmanr(ordered["n_train"], values).statistic
    return {"spearman_rho": float(rho_value), "smallest_set": float(values[0]), "largest_set": float(values[-1])}


def seeded(results: list[Replication], name: str) -> Seeded:
    """One model's top-1 similarities over its seeds, with the unit each generation belongs to."""
    return Seeded.of((r.generated.matches.scores, r.units) for r in results if r.name == name)


def statistics(threshold: float) -> dict:
    """The two copying statistics of paper A's sweep, as functions of a cell's pooled top-1 similarities."""
    return {"similarity_p95": lambda v: float(np.percentile(v, 95)),
            "replica_fraction": lambda v: float(np.mean(v > threshold))}


def headline_metrics(size: pd.DataFrame, results: list[Replication], calibration: Calibration, scale: str,
                     emoji_metrics: dict | None = None) -> dict:
    """The flat metrics: the extractor, its threshold and mAP; per dataset, Spearman's ρ of the replica fraction and
    of the p95 with n_train (seed means), both at the smallest and the largest set with 95% intervals over seeds
    and units, and the fall from smallest to largest set with its interval and verdict (judged on the p95); then
    the emoji section's metrics (`copyscope.studies.emoji.headline_metrics`), if any."""
    chosen = next(row for row in calibration.table if row["name"] == calibration.extractor)
    out = {"scale": scale, "extractor": calibration.extractor, "extractor_map": chosen["mAP"],
           "threshold": calibration.threshold, "threshold_calibrated": calibration.calibrated,
           "seeds": int(size.groupby("model")["seed"].nunique().min())}
    for dataset, group in size.groupby("dataset", sort=True):
        ends = group.sort_values("n_train")["model"].iloc[[0, -1]].tolist()
        smallest, largest = seeded(results, ends[0]), seeded(results, ends[1])
        for column, statistic in statistics(calibration.threshold).items():
            out[f"{dataset}_{column}_rho"] = size_trend(group, column)["spearman_rho"]
            for end, cell in (("smallest_set", smallest), ("largest_set", largest)):
                estimate = hierarchical(cell, statistic)
                out[f"{dataset}_{column}_{end}"] = estimate.value
                out[f"{dataset}_{column}_{end}_ci95"] = estimate.ci95
        record(out, f"{dataset}_size", hierarchical(smallest, statistics(calibration.threshold)["similarity_p95"],
                                                     minus=largest))
    out.update(emoji_metrics or {})
    out["summary"] = summary(out)
    return headline(out)


def describe(key: str) -> str:
    """A finding key of this study in words."""
    if key.startswith("emoji_"):
        return emoji.describe(key)
    return f"{key.removesuffix('_size')}: copying (p95) falls from the smallest to the largest training set"


def timing(results: list[Replication]) -> dict:
    """Sampling wall-clock per generated image, per model."""
    return {"seconds_per_image": {r.name: r.generated.seconds / len(r.generated.generations) for r in results}}


def datasets(metrics: dict) -> list[str]:
    """The datasets of the size sweep, read back from the metrics' keys."""
    suffix = "_similarity_p95_rho"
    return sorted(key[:-len(suffix)] for key in metrics if key.endswith(suffix))


def caption(metrics: dict) -> str:
    """One line under the key figure."""
    trends = "; ".join(f"{d}: p95 {num(metrics[f'{d}_similarity_p95_smallest_set'])} → "
                       f"{num(metrics[f'{d}_similarity_p95_largest_set'])}" for d in datasets(metrics))
    return f"Replica fraction, p95 of top-1 similarity and Fréchet distance against training-set size ({trends})."


def conclusion(metrics: dict) -> str:
    """What holds at this scale, in Markdown, every number from `metrics`."""
    threshold = num(metrics["threshold"])
    extractor = (f"**Extractor.** `{metrics['extractor']}` ranks first on the copy benchmark (mAP "
                 f"{num(metrics['extractor_map'])}); ")
    extractor += (f"its threshold at the calibrated precision, {threshold}, is every study's replica threshold."
                  if metrics["threshold_calibrated"] else
                  f"no threshold reached the required precision, so the configured fallback {threshold} is the "
                  f"replica threshold: replica counts are not calibrated.")
    lines = [extractor, "", f"Intervals are 95% over {metrics['seeds']} training seed(s) and the generations' units "
             f"(independent draws) within each."]
    lines.append("")
    for d in datasets(metrics):
        smallest, largest = metrics[f"{d}_replica_fraction_smallest_set"], metrics[f"{d}_replica_fraction_largest_set"]
        holds = metrics[f"{PREFIX}{d}_size"] == HOLDS
        verdict = ("replication falls as the training set grows: paper A's finding holds" if holds else
                   "a fall of replication with training-set size is not shown at this scale")
        none_copied = (" No generation crosses the threshold at either end: the trend is in similarity, not in "
                       "replicas." if smallest == 0 and largest == 0 else "")
        lines.append(
            f"- **{d}**: {verdict}. p95 of top-1 similarity {num(metrics[f'{d}_similarity_p95_smallest_set'])} "
            f"{interval(metrics[f'{d}_similarity_p95_smallest_set_ci95'])} at the smallest set, "
            f"{num(metrics[f'{d}_similarity_p95_largest_set'])} "
            f"{interval(metrics[f'{d}_similarity_p95_largest_set_ci95'])} at the largest: {phrase(metrics, f'{d}_size')}"
            f" ({rho(metrics[f'{d}_similarity_p95_rho'])} over all sizes). Replica fraction {pct(smallest)} "
            f"{interval(metrics[f'{d}_replica_fraction_smallest_set_ci95'], pct)} → {pct(largest)} "
            f"{interval(metrics[f'{d}_replica_fraction_largest_set_ci95'], pct)}.{none_copied}")
    if "emoji_extractor" in metrics:
        lines.append(emoji.conclusion(metrics))
    return "\n".join(lines)
