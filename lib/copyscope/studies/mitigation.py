"""Mitigation ablations (papers B, C and later work): every mitigation against the duplicated-caption baseline in one
table, with what it costs, the verdicts, headline metrics and a conclusion.

Training-time mitigations are separately trained models; inference-time ones sample the baseline model differently.
Compute cost in the table is UNet evaluations per image (2 per DDIM step with guidance, plus any first-step descent,
deterministic); measured seconds (sampling per image, training per model) go to timing.json only.
"""
from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from copyscope import paths
from copyscope.artifacts.models import load_with_training_images
from copyscope.mitigation.factory import inference_mitigation
from copyscope.plots import tradeoff
from copyscope.report import headline
from copyscope.studies.evaluation import Evaluation, evaluate
from copyscope.studies.prose import missing, num, pct, points, signed
from copyscope.studies.session import Study

TITLE = "Mitigations (papers B, C and later work)"
KEY_FIGURE = "tradeoff.png"
COLUMNS = ["label", "mitigation", "when", "strength", "similarity_p95", "replica_fraction",
           "duplicated_replica_fraction", "not_duplicated_replica_fraction", "duplicated_n", "similarity_mean",
           "frechet_distance", "alignment", "unet_evals_per_image"]
BASELINE = "baseline"
TIMING = "timing.json"  # the train stage's wall-clock record beside each model


def measure(study: Study, alignment: Callable | None) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """The baseline and every retrained model, then the baseline sampled with every point of every inference-time
    sweep, all sampled alike: the mitigations table and the evaluations by row label."""
    training, evaluations = training_time(study, alignment)
    inference, inference_evaluations = inference_time(study, alignment)
    return pd.concat([training, inference], ignore_index=True), {**evaluations, **inference_evaluations}


def training_time(study: Study, alignment: Callable | None) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """The baseline and every retrained model, sampled alike."""
    section, rows, evaluations = study.section, [], {}
    for name in [section.baseline, *section.training]:
        trained, training_images = load_with_training_images(name)
        ev = _evaluate(study, trained, training_images, alignment)
        spec = study.params.models[name].mitigation
        when = "none" if name == section.baseline else "training"
        rows.append(_row(ev, spec.name, when, spec.params, 2.0 * study.sampling.steps))
        evaluations[rows[-1]["label"]] = ev
    return pd.DataFrame(rows)[COLUMNS], evaluations


def inference_time(study: Study, alignment: Callable | None) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """The baseline model sampled with every point of every inference-time sweep."""
    trained, training_images = load_with_training_images(study.section.baseline)
    rows, evaluations = [], {}
    for name, options in study.section.inference_points():
        mitigation = inference_mitigation(name, **options)
        rng = np.random.default_rng([study.params.seed, 11])
        ev = _evaluate(study, trained, training_images, alignment,
                       guidance=mitigation.guidance(study.sampling.guidance),
                       rewrite_prompts=lambda prompts: mitigation.prompts(prompts, rng), prepare=mitigation.prepare)
        rows.append(_row(ev, name, "inference", options,
                         2.0 * study.sampling.steps + mitigation.extra_unet_evals_per_image))
        evaluations[rows[-1]["label"]] = ev
    return pd.DataFrame(rows, columns=COLUMNS), evaluations


def _row(ev: Evaluation, name: str, when: str, options: dict, unet_evals: float) -> dict:
    """One table row; the baseline (`when` "none") is labelled and listed as "baseline"."""
    baseline = when == "none"
    return {**ev.row(), "label": BASELINE if baseline else label(name, when, options),
            "mitigation": BASELINE if baseline else name, "when": when, "strength": json.dumps(options),
            "unet_evals_per_image": unet_evals}


def _evaluate(study: Study, trained, training_images, alignment, **options) -> Evaluation:
    return evaluate(trained, training_images, study.matcher, study.threshold, study.section.per_item,
                    study.params.seed, study.sampling, alignment=alignment, **options)


def label(name: str, when: str, options: dict) -> str:
    """A short row name, e.g. "rt n_tokens=4 (inference)"."""
    settings = " ".join(f"{k}={v}" for k, v in options.items())
    return f"{name} {settings} ({when})" if settings else f"{name} ({when})"


def tradeoff_figure(table: pd.DataFrame):
    """Dataset similarity score against alignment, one line per mitigation's sweep, the baseline starred."""
    rest = table[table["mitigation"] != BASELINE]
    return tradeoff(rest.assign(method=rest["mitigation"] + " (" + rest["when"] + ")"), x="alignment",
                    y="similarity_p95", method="method", baseline=baseline_row(table),
                    xlabel="alignment with the original prompt (small CLIP)", ylabel="dataset similarity score (p95)")


def baseline_row(table: pd.DataFrame) -> pd.Series:
    return table[table["mitigation"] == BASELINE].iloc[0]


def gallery_panels(table: pd.DataFrame, evaluations: dict[str, Evaluation]) -> dict[str, tuple]:
    """The baseline and every retrained model: generations, their nearest training images, the similarities."""
    labels = table.loc[table["when"] != "inference", "label"]
    return {name: (evaluations[name].generations, evaluations[name].nearest, evaluations[name].copying.matches.scores)
            for name in labels}


def gallery_columns(evaluations: dict[str, Evaluation]) -> int:
    """Pairs shown per model: as many as the baseline has duplicated (memorized) training images."""
    return max(1, int(evaluations[BASELINE].copying.duplicated.sum()))


def verdicts(table: pd.DataFrame, metric: str = "similarity_p95") -> pd.DataFrame:
    """Per mitigation and strength: the change from the baseline in copying and alignment, and whether it lowered
    copying: fewer replicas of the duplicated items (the memorized ones) without a higher dataset similarity score."""
    baseline = baseline_row(table)
    rest = table[table["mitigation"] != BASELINE]
    out = rest[["label", "mitigation", "when", "strength"]].copy()
    out[f"delta_{metric}"] = rest[metric] - baseline[metric]
    out["delta_duplicated_replica_fraction"] = rest["duplicated_replica_fraction"] - baseline[
        "duplicated_replica_fraction"]
    out["delta_alignment"] = rest["alignment"] - baseline["alignment"]
    out["lowers_copying"] = (out["delta_duplicated_replica_fraction"] < 0) & (out[f"delta_{metric}"] <= 0)
    return out.reset_index(drop=True)


def best(verdicts: pd.DataFrame, when: str) -> pd.Series | None:
    """The credited mitigation of one kind ("training" or "inference") that removes the most duplicated replicas,
    ties to the one that keeps alignment best, then to the lower p95; None when none is credited."""
    credited = verdicts[(verdicts["when"] == when) & verdicts["lowers_copying"]]
    if credited.empty:
        return None
    ranked = credited.assign(alignment_cost=-credited["delta_alignment"].fillna(-np.inf)).sort_values(
        ["delta_duplicated_replica_fraction", "alignment_cost", "delta_similarity_p95"], kind="stable")
    return ranked.iloc[0]


def headline_metrics(table: pd.DataFrame, verdicts: pd.DataFrame, scale: str) -> dict:
    """The flat metrics: the baseline's copying of its duplicated items, how many mitigations the verdict credits,
    and the best training-time and inference-time ones with their changes from the baseline."""
    baseline = baseline_row(table)
    out = {"scale": scale, "baseline_duplicated_replica_fraction": baseline["duplicated_replica_fraction"],
           "baseline_duplicated_generations": int(baseline["duplicated_n"]),
           "baseline_similarity_p95": baseline["similarity_p95"], "baseline_alignment": baseline["alignment"],
           "mitigations_tested": len(verdicts), "mitigations_credited": int(verdicts["lowers_copying"].sum())}
    for when in ("training", "inference"):
        chosen = best(verdicts, when)
        out[f"best_{when}"] = None if chosen is None else chosen["label"]
        for key in ("duplicated_replica_fraction", "similarity_p95", "alignment"):
            out[f"best_{when}_delta_{key}"] = None if chosen is None else chosen[f"delta_{key}"]
    return headline(out)


def training_seconds(name: str) -> float | None:
    """A model's training wall-clock, from the train stage's timing record (None if it has none)."""
    path = paths.model_dir(name) / TIMING
    return json.loads(path.read_text())["seconds"] if path.is_file() else None


def timing(study: Study, evaluations: dict[str, Evaluation]) -> dict:
    """Sampling seconds per image for every row, training seconds for the baseline and every retrained model."""
    return {"seconds_per_image": {name: ev.seconds_per_image for name, ev in evaluations.items()},
            "training_seconds": {name: training_seconds(name)
                                 for name in [study.section.baseline, *study.section.training]}}


def caption(metrics: dict) -> str:
    """One line under the key figure."""
    return (f"Dataset similarity score against alignment for every mitigation; the baseline (starred) at p95 "
            f"{num(metrics['baseline_similarity_p95'])}, alignment {num(metrics['baseline_alignment'])}.")


def _best_line(metrics: dict, when: str) -> str:
    """The best credited mitigation of one kind with its changes from the baseline, or that there is none."""
    chosen, prefix = metrics[f"best_{when}"], f"best_{when}_delta"
    if chosen is None:
        return f"- **{when.capitalize()} time.** No {when}-time mitigation is credited at this scale."
    return (f"- **{when.capitalize()} time.** Best credited: `{chosen}`, duplicated replicas "
            f"{points(metrics[f'{prefix}_duplicated_replica_fraction'])}, p95 "
            f"{signed(metrics[f'{prefix}_similarity_p95'])}, alignment {signed(metrics[f'{prefix}_alignment'])}.")


def conclusion(metrics: dict) -> str:
    """What holds at this scale, in Markdown, every number from `metrics`."""
    generations = metrics["baseline_duplicated_generations"]
    step = "" if missing(generations) or generations == 0 else f" (one generation is {100 / generations:.3g} points)"
    lines = [
        f"- **Baseline.** {pct(metrics['baseline_duplicated_replica_fraction'])} of the duplicated items' "
        f"{generations} generations are replicas{step}; p95 {num(metrics['baseline_similarity_p95'])}, alignment "
        f"{num(metrics['baseline_alignment'])}.",
        f"- **Verdict.** {metrics['mitigations_credited']} of {metrics['mitigations_tested']} mitigation settings "
        f"lower copying (fewer replicas of the duplicated items and no higher p95).",
        _best_line(metrics, "training"), _best_line(metrics, "inference"),
    ]
    return "\n".join(lines)
