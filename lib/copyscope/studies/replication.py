"""Paper A: the copy benchmark's choice of extractor, each model's generations against its training set, and
replication against training-set size, as tables, headline metrics and a conclusion drawn from them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from copyscope.artifacts.calibration import Calibration
from copyscope.artifacts.models import TrainedModel, load_with_training_images
from copyscope.metrics.replication import summarize
from copyscope.report import headline
from copyscope.studies.evaluation import Matched, generate_and_match
from copyscope.studies.prose import missing, num, pct, rho
from copyscope.studies.session import Study

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

    @property
    def n_train(self) -> int:
        return len(self.training_images)

    @property
    def title(self) -> str:
        return f"{self.name} (n={self.n_train})"

    def row(self) -> dict:
        """The copying summary of the generations and of train vs train, and the Fréchet distance. The size table
        has always summarised in float64 (the other studies in the search's float32): kept, so its numbers stay
        bit for bit what they were."""
        generated = summarize(self.generated.matches.scores.astype(np.float64), self.threshold)
        baseline = summarize(self.generated.baseline.scores.astype(np.float64), self.threshold)
        del baseline["n"]  # n_train
        return {"model": self.name, "dataset": self.dataset, "n_train": self.n_train, **generated,
                **{f"train_vs_train_{k}": v for k, v in baseline.items()},
                "frechet_distance": self.generated.frechet}


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
    """Every model of the study: `n_generations` seeded generations matched against its own training images; the
    size table (one row per model) and the per-model results."""
    params, results = study.params, []
    for name in study.section.models:
        trained, training_images = load_with_training_images(name)
        generated = generate_and_match(trained, training_images, prompts_for(trained, study.section.n_generations),
                                       study.matcher, params.seed, study.sampling)
        results.append(Replication(name, params.models[name].dataset, training_images, generated, study.threshold))
    return pd.DataFrame([r.row() for r in results]), results


def histogram_panels(results: list[Replication]) -> dict[str, dict[str, np.ndarray]]:
    """Per model: the generations' top-1 similarities beside the train-vs-train reference."""
    return {r.title: {"generation vs train": r.generated.matches.scores, "train vs train": r.generated.baseline.scores}
            for r in results}


def gallery_panels(results: list[Replication]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per model: generations, their nearest training images and the similarities."""
    return {r.title: (r.generated.generations, r.training_images[r.generated.matches.indices],
                      r.generated.matches.scores) for r in results}


def size_trend(table: pd.DataFrame, column: str = "replica_fraction") -> dict:
    """Does replication fall as the training set grows? Spearman's rank correlation of `column` with n_train (NaN
    for a constant column or a single set), and the values at the smallest and the largest set."""
    ordered = table.sort_values("n_train")
    values = ordered[column].to_numpy(dtype=float)
    constant = len(values) < 2 or bool(np.all(values == values[0]))
    rho_value = float("nan") if constant else stats.spearmanr(ordered["n_train"], values).statistic
    return {"spearman_rho": float(rho_value), "smallest_set": float(values[0]), "largest_set": float(values[-1])}


def headline_metrics(size: pd.DataFrame, calibration: Calibration, scale: str) -> dict:
    """The flat metrics: the extractor, its threshold and mAP; per dataset, Spearman's ρ of the replica fraction and
    of the p95 with n_train, and both at the smallest and the largest set."""
    chosen = next(row for row in calibration.table if row["name"] == calibration.extractor)
    out = {"scale": scale, "extractor": calibration.extractor, "extractor_map": chosen["mAP"],
           "threshold": calibration.threshold, "threshold_calibrated": calibration.calibrated}
    for dataset, group in size.groupby("dataset", sort=True):
        for column in TRENDS:
            trend = size_trend(group, column)
            out[f"{dataset}_{column}_rho"] = trend["spearman_rho"]
            out[f"{dataset}_{column}_smallest_set"] = trend["smallest_set"]
            out[f"{dataset}_{column}_largest_set"] = trend["largest_set"]
    return headline(out)


def timing(results: list[Replication]) -> dict:
    """Sampling wall-clock per generated image, per model."""
    return {"seconds_per_image": {r.name: r.generated.seconds / len(r.generated.generations) for r in results}}


def datasets(metrics: dict) -> list[str]:
    """The datasets of the size sweep, read back from the metrics' keys."""
    suffix = "_similarity_p95_rho"
    return sorted(key[:-len(suffix)] for key in metrics if key.endswith(suffix))


def falls(metrics: dict, dataset: str) -> bool:
    """Paper A's finding for one dataset: the p95 falls with size and the replica fraction does not rise."""
    p95, replicas = metrics[f"{dataset}_similarity_p95_rho"], metrics[f"{dataset}_replica_fraction_rho"]
    return not missing(p95) and p95 < 0 and (missing(replicas) or replicas <= 0)


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
    lines = [extractor, ""]
    for d in datasets(metrics):
        smallest, largest = metrics[f"{d}_replica_fraction_smallest_set"], metrics[f"{d}_replica_fraction_largest_set"]
        verdict = ("replication falls as the training set grows (paper A's finding holds)" if falls(metrics, d)
                   else "replication does NOT fall as the training set grows")
        none_copied = (" No generation crosses the threshold at either end: the trend is in similarity, not in "
                       "replicas." if smallest == 0 and largest == 0 else "")
        lines.append(
            f"- **{d}**: {verdict}. Replica fraction {pct(smallest)} at the smallest set, {pct(largest)} at the "
            f"largest ({rho(metrics[f'{d}_replica_fraction_rho'])}); p95 of top-1 similarity "
            f"{num(metrics[f'{d}_similarity_p95_smallest_set'])} → {num(metrics[f'{d}_similarity_p95_largest_set'])} "
            f"({rho(metrics[f'{d}_similarity_p95_rho'])}).{none_copied}")
    return "\n".join(lines)
