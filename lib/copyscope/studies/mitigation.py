"""Mitigation ablations (papers B, C and later work) on the memorized prompts of the benchmark world, the way paper
C, Jain et al., Han et al. and MemBench evaluate them: every mitigation's replica rate with a 95% interval, its
change from its baseline with an interval, and a verdict from that interval.

Which prompts count is decided first, by verification with one seed (the labels): the duplicated (MV and TV)
prompts whose generations are mostly replicas. Every cell then samples those prompts `per_item` times with another
seed, so the labels and the measurements do not share generations. Inference-time mitigations sample the detection
model; training-time ones are twins fine-tuned from it on new duplicated images (same data, steps and seeds), each
seed compared with the baseline twin of that seed on that seed's memorized prompts. With several seeds the interval
resamples seeds, then prompts within a seed. A mitigation "lowers copying" only when the interval of the per-prompt
change excludes zero below; otherwise the verdict is "not shown at this scale".
Compute cost is UNet evaluations per image (2 per guided DDIM step, plus any first-step descent); seconds go to
timing.json only.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from copyscope import paths
from copyscope.artifacts.models import TrainedModel, load_with_training_images
from copyscope.metrics import uncertainty
from copyscope.metrics.uncertainty import Estimate
from copyscope.mitigation.descent import FirstStepDescent
from copyscope.mitigation.factory import InferenceMitigation, inference_mitigation
from copyscope.plots import tradeoff
from copyscope.report import headline
from copyscope.studies.evaluation import Matched, generate_and_match
from copyscope.studies.prose import interval, num, pct, points
from copyscope.studies.session import Study
from copyscope.studies.verdicts import record, summary
from copyscope.studies.verification import Candidate, duplicated_candidates, replica_hits, verify
from copyscope.threaded import cell_map

TITLE = "Mitigations (papers B, C and later work)"
KEY_FIGURE = "changes.png"
BASELINE = "baseline"
LOWERS, NOT_SHOWN, RAISES = "lowers copying", "not shown at this scale", "raises copying"
TIMING = "timing.json"  # the train stage's wall-clock record beside each model
GALLERY = 8  # pairs shown per cell


@dataclass
class Cells:
    """A model, its training images and the verified memorized prompts every cell on it samples."""

    trained: TrainedModel
    training_images: np.ndarray
    candidates: list[Candidate]
    verified: bool  # False: no duplicated prompt was verified, and all of them stand in


def memorized_cells(study: Study, name: str, training_seed: int = 0) -> Cells:
    """Verify the duplicated prompts of training seed `training_seed` of model `name` with the labels seed
    (`per_item` generations each) and keep the memorized ones (all duplicated prompts, flagged, when none is)."""
    trained, training_images = load_with_training_images(name, training_seed)
    candidates = duplicated_candidates(trained)
    if not candidates:
        raise ValueError(f"mitigation: model {name!r} has no duplicated prompts to mitigate")
    checked = verify(trained, training_images, candidates, study.section.per_item, study.matcher, study.threshold,
                     study.params.seed, study.sampling)
    kept = [c for c, memorized in zip(candidates, checked.memorized) if memorized]
    return Cells(trained, training_images, kept or candidates, bool(kept))


@dataclass
class Cell:
    """One mitigation setting sampled on the memorized prompts."""

    label: str
    mitigation: str
    when: str  # "none" (a baseline), "training" or "inference"
    strength: dict
    model: str
    replica: np.ndarray  # (prompts,): each prompt's replica rate over its generations, training seed after seed
    generated: list[Matched]  # per training seed
    alignment: float | None
    unet_evals_per_image: float
    training_images: np.ndarray
    descent: FirstStepDescent | None = None
    training_seeds: np.ndarray | None = None  # each prompt's training seed; None: one model

    @property
    def generations(self) -> np.ndarray:
        return np.concatenate([g.generations for g in self.generated])

    @property
    def nearest(self) -> np.ndarray:
        """Each generation's nearest training image."""
        return self.training_images[np.concatenate([g.matches.indices for g in self.generated])]

    @property
    def scores(self) -> np.ndarray:
        """Each generation's top-1 similarity to the training set."""
        return np.concatenate([g.matches.scores for g in self.generated])


def sample_cell(study: Study, cells: Cells, trained: TrainedModel, alignment: Callable | None,
                mitigation: InferenceMitigation | None = None) -> tuple[np.ndarray, Matched, float | None]:
    """`per_item` generations of every memorized prompt with the cells seed (params seed + 1): per-prompt replica
    rates, the matches, and the mean alignment with the original prompts."""
    per_item, seed = study.section.per_item, study.params.seed + 1
    prompts = [c.prompt for c in cells.candidates for _ in range(per_item)]
    asked, guidance, prepare = prompts, None, None
    if mitigation is not None:
        asked = mitigation.prompts(prompts, np.random.default_rng([seed, 11]))
        guidance, prepare = mitigation.guidance(study.sampling.guidance), mitigation.prepare
    generated = generate_and_match(trained, cells.training_images, asked, study.matcher, seed, study.sampling,
                                   guidance, prepare)
    hits = replica_hits(generated.matches, [c.images for c in cells.candidates], per_item, study.threshold)
    score = None if alignment is None else float(np.mean(alignment(generated.generations, prompts)))
    return hits.mean(axis=1), generated, score


def training_time(study: Study, alignment: Callable | None) -> tuple[bool, list[Cell]]:
    """The twin baseline and every mitigated twin, each training seed on the memorized prompts of that seed's
    baseline (the seeds and twins side by side, `cell_map`); whether every seed's prompts were verified."""
    section = study.section
    seeds = range(study.params.models[section.baseline].seeds)
    memorized = cell_map(lambda k: memorized_cells(study, section.baseline, k), seeds, desc="verify twin seeds")
    names = [section.baseline, *section.training]

    def sample(twin: tuple[str, int]):
        name, k = twin
        cells = memorized[k]
        model = cells.trained if name == section.baseline else load_with_training_images(name, k)[0]
        return sample_cell(study, cells, model, alignment)

    done = iter(cell_map(sample, [(name, k) for name in names for k in seeds], desc="twins"))
    out = []
    for name in names:
        sampled = [next(done) for _ in seeds]
        counts = [len(replica) for replica, _, _ in sampled]
        score = None if alignment is None else float(np.average([s for _, _, s in sampled], weights=counts))
        spec = study.params.models[name].mitigation
        baseline = name == section.baseline
        out.append(Cell(f"{BASELINE} (training)" if baseline else label(spec.name, "training", spec.params),
                        BASELINE if baseline else spec.name, "none" if baseline else "training", spec.params, name,
                        np.concatenate([replica for replica, _, _ in sampled]), [g for _, g, _ in sampled], score,
                        2.0 * study.sampling.steps, memorized[0].training_images,
                        training_seeds=np.repeat(list(seeds), counts)))
    return all(cells.verified for cells in memorized), out


def inference_time(study: Study, alignment: Callable | None) -> tuple[bool, list[Cell]]:
    """The detection model plainly sampled, then with every point of every inference-time sweep (side by side,
    those with a first-step descent first: they take longest); whether its prompts were verified."""
    section = study.section
    cells = memorized_cells(study, section.inference_model)
    points = [(name, options, inference_mitigation(name, **options)) for name, options in section.inference_points()]

    def descends(point) -> bool:
        return point is not None and isinstance(point[2].prepare, FirstStepDescent)

    sampled = cell_map(lambda point: sample_cell(study, cells, cells.trained, alignment,
                                                 None if point is None else point[2]),
                       [None, *points], desc="inference cells", cost=descends)
    replica, generated, score = sampled[0]
    out = [Cell(f"{BASELINE} (inference)", BASELINE, "none", {}, section.inference_model, replica, [generated],
                score, 2.0 * study.sampling.steps, cells.training_images)]
    for (name, options, mitigation), (replica, generated, score) in zip(points, sampled[1:]):
        descent = mitigation.prepare if isinstance(mitigation.prepare, FirstStepDescent) else None
        out.append(Cell(label(name, "inference", options), name, "inference", options, section.inference_model,
                        replica, [generated], score, 2.0 * study.sampling.steps + mitigation.extra_unet_evals_per_image,
                        cells.training_images, descent))
    return cells.verified, out


def label(name: str, when: str, options: dict) -> str:
    """A short row name, e.g. "rt n_tokens=4 (inference)"."""
    settings = " ".join(f"{k}={v}" for k, v in options.items())
    return f"{name} {settings} ({when})" if settings else f"{name} ({when})"


def verdict(change: uncertainty.Estimate) -> str:
    """From the interval of the per-prompt change in replica rate."""
    if change.excludes_zero_below():
        return LOWERS
    return RAISES if change.low > 0 else NOT_SHOWN


def measure(study: Study, alignment: Callable | None) -> tuple[pd.DataFrame, list[Cell], float]:
    """Every cell, training-time then inference-time: the table (each row against its own baseline), the cells and
    the wall-clock seconds it all took."""
    start = time.perf_counter()
    rows, cells = [], []
    groups = [training_time(study, alignment)] if study.section.baseline is not None else []
    for verified, group_cells in (*groups, inference_time(study, alignment)):
        rows += [table_row(cell, group_cells[0], verified, study.params.seed) for cell in group_cells]
        cells += group_cells
    return pd.DataFrame(rows), cells, time.perf_counter() - start


def table_row(cell, base, verified: bool, seed: int) -> dict:
    """One cell's row against its baseline `base` (the same prompts of the same training seeds): the replica rate
    and its per-prompt change with intervals (`uncertainty.seeded_mean`), the change of each training seed, the
    verdict, similarities, alignment, cost and the first-step descent's statistics (any cell with the attributes
    of `Cell`: label, mitigation, when, strength, model, replica, training_seeds, scores, alignment,
    unet_evals_per_image, descent)."""
    seeds = np.zeros(len(cell.replica), dtype=int) if cell.training_seeds is None else cell.training_seeds
    rate = uncertainty.seeded_mean(cell.replica, seeds, seed=seed)
    change = uncertainty.seeded_mean(cell.replica, seeds, minus=base.replica, seed=seed)
    by_seed = [float(np.mean(cell.replica[seeds == s] - base.replica[seeds == s])) for s in np.unique(seeds)]
    scores, descent = cell.scores, cell.descent
    return {
        "label": cell.label, "mitigation": cell.mitigation, "when": cell.when, "strength": json.dumps(cell.strength),
        "model": cell.model, "baseline": base.label, "seeds": len(by_seed), "prompts": len(cell.replica),
        "prompts_verified": verified, "generations": len(scores), "replica_rate": rate.value,
        "replica_rate_low": rate.low, "replica_rate_high": rate.high, "change": change.value, "change_low": change.low,
        "change_high": change.high, "change_by_seed": json.dumps(by_seed),
        "verdict": "" if cell is base else verdict(change),
        "similarity_mean": float(np.mean(scores)), "similarity_p95": float(np.percentile(scores, 95)),
        "alignment": cell.alignment, "unet_evals_per_image": cell.unet_evals_per_image,
        "descent_iterations_mean": np.mean(descent.iterations) if descent else np.nan,
        "magnitude_before": np.mean(descent.magnitude_before) if descent else np.nan,
        "magnitude_after": np.mean(descent.magnitude_after) if descent else np.nan,
    }


def changes_figure(table: pd.DataFrame):
    """Every mitigation's change in replica rate from its baseline with its 95% interval, and each training seed's
    change as a small grey point where there are several."""
    rest = table[table["when"] != "none"].iloc[::-1].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rest) + 1.2))
    for when, colour in (("training", "tab:blue"), ("inference", "tab:orange")):
        part = rest[rest["when"] == when]
        ax.errorbar(part["change"], part.index, xerr=[part["change"] - part["change_low"],
                                                      part["change_high"] - part["change"]],
                    fmt="o", color=colour, capsize=3, label=when)
    points = [(change, row) for row, per_seed in rest["change_by_seed"].map(json.loads).items() if len(per_seed) > 1
              for change in per_seed]
    if points:
        ax.scatter(*zip(*points), s=9, color="grey", zorder=3, label="one training seed")
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(range(len(rest)), rest["label"], fontsize=7)
    ax.set_xlabel("change in replica rate of memorized prompts from the baseline (95% CI)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def tradeoff_figure(table: pd.DataFrame, scorer: str = "small CLIP"):
    """Replica rate against alignment (scored by `scorer`) for the inference-time sweeps, their baseline starred."""
    rest = table[table["when"] == "inference"]
    base = table[(table["when"] == "none") & (table["label"] == rest["baseline"].iloc[0])].iloc[0]
    return tradeoff(rest, x="alignment", y="replica_rate", method="mitigation", baseline=base,
                    xlabel=f"alignment with the original prompt ({scorer})", ylabel="replica rate (memorized prompts)")


def gallery_panels(cells: list[Cell]) -> dict[str, tuple]:
    """Every baseline and training-time cell: generations, their nearest training images, the similarities (training
    seed after training seed)."""
    return {cell.label: (cell.generations, cell.nearest, cell.scores)
            for cell in cells if cell.when != "inference"}


def best(table: pd.DataFrame, when: str) -> pd.Series | None:
    """The credited mitigation of one kind with the largest fall in replica rate (ties: the better alignment)."""
    credited = table[(table["when"] == when) & (table["verdict"] == LOWERS)]
    if credited.empty:
        return None
    return credited.assign(cost=-credited["alignment"].fillna(-np.inf)).sort_values(
        ["change", "cost"], kind="stable").iloc[0]


def headline_metrics(table: pd.DataFrame, scale: str) -> dict:
    """The flat metrics (per-cell rates, intervals and verdicts are in mitigations.csv)."""
    inference_base = table[(table["when"] == "none") & (table["label"] == f"{BASELINE} (inference)")].iloc[0]
    twin = table[(table["when"] == "none") & (table["label"] == f"{BASELINE} (training)")]
    training_base = twin.iloc[0] if len(twin) else pd.Series(dtype=object)  # no twin at this scale: None below
    tested = table[table["when"] != "none"]
    out = {"scale": scale,
           "baseline_memorized_replica_rate": inference_base["replica_rate"],
           "baseline_memorized_replica_rate_ci95": [inference_base["replica_rate_low"],
                                                    inference_base["replica_rate_high"]],
           "baseline_memorized_prompts": int(inference_base["prompts"]),
           "baseline_prompts_verified": bool(inference_base["prompts_verified"]),
           "training_baseline_replica_rate": training_base.get("replica_rate"),
           "training_baseline_replica_rate_ci95": [training_base.get("replica_rate_low"),
                                                   training_base.get("replica_rate_high")],
           "training_baseline_prompts": None if twin.empty else int(training_base["prompts"]),
           "training_baseline_prompts_verified": None if twin.empty else bool(training_base["prompts_verified"]),
           "mitigations_tested": len(tested), "mitigations_credited": int((tested["verdict"] == LOWERS).sum())}
    for when in ("training", "inference"):
        chosen = best(table, when)
        out[f"best_{when}"] = None if chosen is None else chosen["label"]
        out[f"best_{when}_change_ci95"] = [None, None] if chosen is None else [chosen["change_low"],
                                                                               chosen["change_high"]]
    optimised = tested[tested["mitigation"] == "embedding_optimisation"]
    out["embedding_optimisation_iterations_mean"] = optimised["descent_iterations_mean"].mean() if len(
        optimised) else None
    out["seeds"] = int(training_base.get("seeds", 1))  # the training-time twins'; the inference model is one model
    for when in ("training", "inference"):
        part = tested[tested["when"] == when].sort_values("change", kind="stable")
        if len(part):
            top = part.iloc[0]
            seeds = int(top["seeds"])  # the inference-time cells sample the one detection model
            record(out, f"{when}_time", Estimate(top["change"], top["change_low"], top["change_high"],
                                                 int(top["prompts"])), direction=-1,
                   seeds=None if seeds == out["seeds"] else seeds)
    out["summary"] = summary(out)
    return headline(out)


def describe(key: str) -> str:
    """A finding key of this study in words."""
    return (f"the {key.replace('_', '-')} mitigation with the largest fall lowers the memorized prompts' replica "
            f"rate (best of several settings, not corrected for the choice)")


def training_seconds(name: str) -> float | None:
    """A model's training wall-clock, from the train stage's timing record (None if it has none)."""
    path = paths.model_dir(name) / TIMING
    return json.loads(path.read_text())["seconds"] if path.is_file() else None


def timing(study: Study, cells: list[Cell], seconds: float) -> dict:
    """Sampling seconds per image for every cell, the study's total, training seconds of every twin."""
    return {"seconds_per_image": {c.label: sum(g.seconds for g in c.generated) / len(c.scores) for c in cells},
            "seconds": seconds,
            "training_seconds": {name: training_seconds(name) for name in [study.section.baseline,
                                                                            *study.section.training] if name}}


def caption(metrics: dict) -> str:
    """One line under the key figure."""
    return (f"Change in replica rate of the memorized prompts for every mitigation, with 95% intervals; "
            f"{metrics['mitigations_credited']} of {metrics['mitigations_tested']} settings lower copying.")


def _best_line(metrics: dict, when: str) -> str:
    chosen = metrics[f"best_{when}"]
    if chosen is None:
        return f"- **{when.capitalize()} time.** No {when}-time mitigation is shown to lower copying at this scale."
    return (f"- **{when.capitalize()} time.** Largest credited fall: `{chosen}`, replica rate change "
            f"{interval(metrics[f'best_{when}_change_ci95'], points)}.")


def conclusion(metrics: dict) -> str:
    """What holds at this scale, in Markdown, every number from `metrics`."""
    def labels(verified: bool) -> str:
        return "verified memorized" if verified else "duplicated (none verified memorized)"

    iterations = metrics["embedding_optimisation_iterations_mean"]
    twin = ("no training-time twin is trained at this scale, so no training-time mitigation is tested"
            if metrics["training_baseline_prompts"] is None else
            f"the fine-tuned twin's {metrics['training_baseline_prompts']} "
            f"{labels(metrics['training_baseline_prompts_verified'])} prompts (over its {metrics['seeds']} "
            f"training seeds) "
            f"{pct(metrics['training_baseline_replica_rate'])} "
            f"{interval(metrics['training_baseline_replica_rate_ci95'], pct)}")
    lines = [
        f"- **Baselines.** The detection model's {metrics['baseline_memorized_prompts']} "
        f"{labels(metrics['baseline_prompts_verified'])} prompts replicate "
        f"{pct(metrics['baseline_memorized_replica_rate'])} "
        f"{interval(metrics['baseline_memorized_replica_rate_ci95'], pct)} of the time; {twin}.",
        f"- **Verdict.** {metrics['mitigations_credited']} of {metrics['mitigations_tested']} settings lower copying "
        f"(the 95% interval of the per-prompt change excludes zero); the others are not shown to at this scale.",
        _best_line(metrics, "training"), _best_line(metrics, "inference"),
        f"- **Embedding optimisation** took {num(iterations, 1)} magnitude evaluations per image on average "
        f"(1 = already below target, no descent step).",
    ]
    return "\n".join(lines)
