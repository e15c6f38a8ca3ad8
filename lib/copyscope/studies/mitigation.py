"""Mitigation ablations (papers B, C and later work): every mitigation against the duplicated-caption baseline in one
table, with what it costs.

Training-time mitigations are separately trained models; inference-time ones sample the baseline model differently.
Cost is reported as UNet evaluations per image (2 per DDIM step with guidance, plus any first-step descent) and as
seconds: sampling seconds per image for inference-time methods, training seconds for training-time ones.
"""
from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from copyscope.config import Params
from copyscope.mitigation.factory import inference_mitigation
from copyscope.studies.evaluation import Evaluation, evaluate, load_with_training_images

COLUMNS = ["label", "mitigation", "when", "strength", "similarity_p95", "replica_fraction",
           "duplicated_replica_fraction", "not_duplicated_replica_fraction", "similarity_mean", "frechet_distance",
           "alignment", "unet_evals_per_image", "seconds_per_image", "training_seconds"]


def training_time(params: Params, extractor: Callable, threshold: float, alignment: Callable | None
                  ) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """The baseline and every retrained model, sampled alike."""
    study, rows, evaluations = params.mitigation, [], {}
    for name in tqdm([study.baseline, *study.training], desc="training-time"):
        trained, training_images = load_with_training_images(name)
        ev = _evaluate(params, trained, training_images, extractor, threshold, alignment)
        spec = params.models[name].mitigation
        when = "none" if name == study.baseline else "training"
        rows.append(_row(ev, spec.name, when, spec.params, 2.0 * params.sampling.steps, trained.record["seconds"]))
        evaluations[name] = ev
    return pd.DataFrame(rows)[COLUMNS], evaluations


def inference_time(params: Params, extractor: Callable, threshold: float, alignment: Callable | None
                   ) -> pd.DataFrame:
    """The baseline model sampled with every point of every inference-time sweep."""
    study = params.mitigation
    trained, training_images = load_with_training_images(study.baseline)
    rows = []
    for name, options in tqdm(study.inference_points(), desc="inference-time"):
        mitigation = inference_mitigation(name, **options)
        rng = np.random.default_rng([params.seed, 11])
        ev = _evaluate(params, trained, training_images, extractor, threshold, alignment,
                       guidance=mitigation.guidance(params.sampling.guidance),
                       rewrite_prompts=lambda prompts: mitigation.prompts(prompts, rng), prepare=mitigation.prepare)
        rows.append(_row(ev, name, "inference", options,
                         2.0 * params.sampling.steps + mitigation.extra_unet_evals_per_image,
                         trained.record["seconds"]))
    return pd.DataFrame(rows, columns=COLUMNS)


def _row(ev: Evaluation, name: str, when: str, options: dict, unet_evals: float, training_seconds: float) -> dict:
    """One table row; the baseline (`when` "none") is labelled and listed as "baseline"."""
    baseline = when == "none"
    return {**ev.row(), "label": "baseline" if baseline else label(name, when, options),
            "mitigation": "baseline" if baseline else name, "when": when, "strength": json.dumps(options),
            "unet_evals_per_image": unet_evals, "training_seconds": training_seconds}


def label(name: str, when: str, options: dict) -> str:
    """A short row name, e.g. "rt n_tokens=4 (inference)"."""
    settings = " ".join(f"{k}={v}" for k, v in options.items())
    return f"{name} {settings} ({when})" if settings else f"{name} ({when})"


def verdicts(table: pd.DataFrame, metric: str = "similarity_p95") -> pd.DataFrame:
    """Per mitigation and strength: the change from the baseline in copying and alignment, and whether it lowered
    copying: fewer replicas of the duplicated items (the memorized ones) without a higher dataset similarity score."""
    baseline = table[table["mitigation"] == "baseline"].iloc[0]
    rest = table[table["mitigation"] != "baseline"]
    out = rest[["label", "mitigation", "when", "strength"]].copy()
    out[f"delta_{metric}"] = rest[metric] - baseline[metric]
    out["delta_duplicated_replica_fraction"] = rest["duplicated_replica_fraction"] - baseline[
        "duplicated_replica_fraction"]
    out["delta_alignment"] = rest["alignment"] - baseline["alignment"]
    out["lowers_copying"] = (out["delta_duplicated_replica_fraction"] < 0) & (out[f"delta_{metric}"] <= 0)
    return out.reset_index(drop=True)


def _evaluate(params: Params, trained, training_images, extractor, threshold, alignment, **options) -> Evaluation:
    sampling = params.sampling
    return evaluate(trained, training_images, extractor, threshold, params.mitigation.per_item, seed=params.seed,
                    steps=sampling.steps, guidance=options.pop("guidance", sampling.guidance),
                    batch_size=sampling.batch_size, alignment=alignment, **options)
