"""Paper A's search on Stable Diffusion (the `sd` scale): generations of the benchmark's prompts searched against a
downloaded training-image set (a LAION subset of any size, in img2dataset shards), with the copy descriptor and the
replica threshold of the papers. Reported per kind of prompt: the replica fraction (the share of a prompt's
generations above the threshold, averaged over prompts) with a 95% interval over prompts, and whether memorized
prompts replicate more than clean ones (the interval of the difference).

The search covers only the training images given, as paper A's covered under 0.6% of Stable Diffusion's data: a
generation with no copy among them may still copy an image outside.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from copyscope.metrics import uncertainty
from copyscope.plots import similarity_histogram
from copyscope.report import headline
from copyscope.studies.prompt_benchmark import DetectionBenchmark
from copyscope.studies.prose import interval, pct, points
from copyscope.studies.sd_pipeline import Searched, generate_and_search, training_images_of
from copyscope.studies.sd_session import SDStudy
from copyscope.studies.verdicts import record, summary

GALLERY = 8


def search(study: SDStudy, model, bench: DetectionBenchmark, database, copy_descriptor) -> tuple[Searched, float]:
    """`n_generations` per benchmark prompt (seed params.seed), each searched against the training images."""
    started = time.perf_counter()
    prompts = [p for p in bench.prompts for _ in range(study.section.n_generations)]
    searched = generate_and_search(study, model, prompts, prompts, database, copy_descriptor, None,
                                   study.params.seed, kept=GALLERY)
    return searched, time.perf_counter() - started


def per_prompt(study: SDStudy, searched: Searched) -> np.ndarray:
    """Each prompt's replica fraction over its generations."""
    hits = searched.matches.scores > study.spec.replica_threshold
    return hits.reshape(-1, study.section.n_generations).mean(axis=1)


def kind_table(study: SDStudy, bench: DetectionBenchmark, searched: Searched) -> pd.DataFrame:
    """Per kind of prompt: prompts, replica fraction with its interval, mean and 95th-percentile similarity."""
    rates, seed = per_prompt(study, searched), study.params.seed
    scores = searched.matches.scores.reshape(len(bench.prompts), -1)
    rows = []
    for kind in pd.unique(bench.kinds):
        mask = bench.kinds == kind
        rate = uncertainty.mean(rates[mask], seed)
        rows.append({"kind": kind, "memorized": bool(bench.memorized[mask][0]), "prompts": int(mask.sum()),
                     "replica_fraction": rate.value, "replica_fraction_low": rate.low,
                     "replica_fraction_high": rate.high, "similarity_mean": float(scores[mask].mean()),
                     "similarity_p95": float(np.percentile(scores[mask], 95))})
    return pd.DataFrame(rows)


def histogram_figure(study: SDStudy, bench: DetectionBenchmark, searched: Searched):
    """Top-1 similarity of memorized and clean prompts' generations, the replica threshold marked."""
    scores = searched.matches.scores.reshape(len(bench.prompts), -1)
    ax = similarity_histogram({"memorized prompts": scores[bench.memorized].ravel(),
                               "clean prompts": scores[bench.clean].ravel()}, study.spec.replica_threshold)
    ax.set_title(f"top-1 {study.spec.extractor} similarity among the training images")
    return ax.figure


def gallery_panels(study: SDStudy, searched: Searched, database, resolution: int) -> dict[str, tuple]:
    """The most similar generations beside their nearest training images."""
    nearest = training_images_of(study, database, searched.matches.indices[searched.kept], resolution)
    return {"most similar generations": (searched.images, nearest, searched.matches.scores[searched.kept])}


def headline_metrics(study: SDStudy, bench: DetectionBenchmark, searched: Searched, database_size: int) -> dict:
    """Replica fractions of memorized and clean prompts with intervals, their difference and its verdict."""
    rates, seed = per_prompt(study, searched), study.params.seed
    memorized, clean = uncertainty.mean(rates[bench.memorized], seed), uncertainty.mean(rates[bench.clean], seed)
    out = {"scale": study.params.scale, "pipeline": study.spec.pipeline, "extractor": study.spec.extractor,
           "replica_threshold": study.spec.replica_threshold, "training_images": database_size,
           "generations_per_prompt": study.section.n_generations,
           "memorized_prompts": memorized.n, "memorized_replica_fraction": memorized.value,
           "memorized_replica_fraction_ci95": memorized.ci95, "clean_prompts": clean.n,
           "clean_replica_fraction": clean.value, "clean_replica_fraction_ci95": clean.ci95, "seeds": 1}
    record(out, "memorized_replicate_more", uncertainty.group_difference(rates[bench.memorized], rates[bench.clean],
                                                                         seed))
    out["summary"] = summary(out)
    return headline(out)


def timing(searched: Searched, seconds: float) -> dict:
    return {"seconds_per_image": searched.seconds / len(searched.matches.scores), "seconds": seconds}


def conclusion(metrics: dict) -> str:
    """What this run shows, in Markdown, every number from `metrics`."""
    return "\n".join([
        f"- **Search.** {metrics['generations_per_prompt']} generations per prompt of {metrics['pipeline']}, searched "
        f"among {metrics['training_images']} training images with {metrics['extractor']} (replica above "
        f"{metrics['replica_threshold']:g}).",
        f"- **Memorized prompts** ({metrics['memorized_prompts']}) replicate "
        f"{pct(metrics['memorized_replica_fraction'])} {interval(metrics['memorized_replica_fraction_ci95'], pct)}, "
        f"**clean prompts** ({metrics['clean_prompts']}) {pct(metrics['clean_replica_fraction'])} "
        f"{interval(metrics['clean_replica_fraction_ci95'], pct)}: the difference "
        f"{interval(metrics['memorized_replicate_more_difference_ci95'], points)} "
        f"{metrics['verdict_memorized_replicate_more']}.",
        "- **Coverage.** A generation without a copy among these images may still copy one outside them.",
    ])
