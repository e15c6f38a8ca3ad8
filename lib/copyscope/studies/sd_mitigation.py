"""Inference-time mitigations on Stable Diffusion (the `sd` scale), evaluated as paper C and its successors do: the
memorized prompts sampled `per_item` times plainly and with every point of every sweep; a generation copies when its
top-1 similarity among the training images (SSCD) exceeds the replica threshold; alignment is the CLIP score with
the original prompt. Each mitigation's per-prompt change in replica rate from the plain baseline carries a 95%
interval over prompts, and the verdict comes from that interval (the embedded study's table, figures and metrics).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from copyscope.mitigation.descent import FirstStepDescent
from copyscope.mitigation.factory import inference_mitigation
from copyscope.models.text_to_image import TextToImage
from copyscope.studies import mitigation
from copyscope.studies.mitigation import BASELINE, label, table_row
from copyscope.studies.prompt_benchmark import DetectionBenchmark
from copyscope.studies.prose import interval, pct, points
from copyscope.studies.sd_pipeline import Searched, generate_and_search, training_images_of
from copyscope.studies.sd_session import SDStudy

GALLERY = 8


@dataclass
class SDCell:
    """One mitigation setting sampled on the memorized prompts (the attributes `mitigation.table_row` reads)."""

    label: str
    mitigation: str
    when: str
    strength: dict
    model: str
    replica: np.ndarray  # (prompts,): each prompt's replica rate over its generations
    searched: Searched
    unet_evals_per_image: float
    descent: FirstStepDescent | None = None
    training_seeds: np.ndarray | None = None  # one pipeline

    @property
    def scores(self) -> np.ndarray:
        return self.searched.matches.scores

    @property
    def alignment(self) -> float:
        return float(np.mean(self.searched.clip_score))


def measure(study: SDStudy, model: TextToImage, bench: DetectionBenchmark, database, copy_descriptor, clip_score
            ) -> tuple[pd.DataFrame, list[SDCell], float]:
    """The plain baseline and every inference-time point on the memorized prompts (`per_item` generations each,
    seed params.seed + 1): the table, the cells and the wall-clock seconds."""
    started = time.perf_counter()
    per_item, seed, threshold = study.section.per_item, study.params.seed + 1, study.spec.replica_threshold
    prompts = [p for p, memorized in zip(bench.prompts, bench.memorized) if memorized for _ in range(per_item)]
    evals = 2.0 * study.sampling.steps

    def cell(name: str, options: dict, searched: Searched, extra: float = 0.0, descent=None) -> SDCell:
        replica = (searched.matches.scores > threshold).reshape(-1, per_item).mean(axis=1)
        when = "none" if name == BASELINE else "inference"
        title = f"{BASELINE} (inference)" if name == BASELINE else label(name, "inference", options)
        return SDCell(title, name, when, options, study.spec.pipeline, replica, searched, evals + extra, descent)

    search = dict(database=database, copy_descriptor=copy_descriptor, clip_score=clip_score, seed=seed,
                  kept=GALLERY)
    cells = [cell(BASELINE, {}, generate_and_search(study, model, prompts, prompts, **search))]
    for name, options in study.section.inference_points():
        chosen = inference_mitigation(name, **options)
        asked = chosen.prompts(prompts, np.random.default_rng([seed, 11]))
        searched = generate_and_search(study, model, asked, prompts, guidance=chosen.guidance(study.sampling.guidance),
                                       prepare=chosen.prepare, **search)
        descent = chosen.prepare if isinstance(chosen.prepare, FirstStepDescent) else None
        cells.append(cell(name, options, searched, chosen.extra_unet_evals_per_image, descent))
    rows = [table_row(c, cells[0], True, study.params.seed) for c in cells]
    return pd.DataFrame(rows), cells, time.perf_counter() - started


def gallery_panels(study: SDStudy, cells: list[SDCell], database, resolution: int) -> dict[str, tuple]:
    """Every cell's most similar generations beside their nearest training images, with the similarities."""
    panels = {}
    for c in cells:
        kept = c.searched.kept
        nearest = training_images_of(study, database, c.searched.matches.indices[kept], resolution)
        panels[c.label] = (c.searched.images, nearest, c.scores[kept])
    return panels


def headline_metrics(table: pd.DataFrame, study: SDStudy) -> dict:
    """The embedded study's flat metrics (no training-time cells at this scale) with the pipeline named."""
    return {**mitigation.headline_metrics(table, study.params.scale), "pipeline": study.spec.pipeline,
            "replica_threshold": study.spec.replica_threshold}


def timing(cells: list[SDCell], seconds: float) -> dict:
    """Sampling seconds per image of every cell and the study's total."""
    return {"seconds_per_image": {c.label: c.searched.seconds / len(c.scores) for c in cells}, "seconds": seconds}


def conclusion(metrics: dict) -> str:
    """What this run shows, in Markdown, every number from `metrics`."""
    best = metrics["best_inference"]
    best_line = ("No mitigation is shown to lower copying." if best is None else
                 f"Largest credited fall: `{best}`, change {interval(metrics['best_inference_change_ci95'], points)}.")
    return "\n".join([
        f"- **Baseline.** On {metrics['pipeline']} the {metrics['baseline_memorized_prompts']} memorized prompts "
        f"replicate (SSCD above {metrics['replica_threshold']:g}) {pct(metrics['baseline_memorized_replica_rate'])} "
        f"{interval(metrics['baseline_memorized_replica_rate_ci95'], pct)} of the time.",
        f"- **Verdict.** {metrics['mitigations_credited']} of {metrics['mitigations_tested']} settings lower copying "
        f"(the 95% interval of the per-prompt change excludes zero). {best_line}",
    ])
