"""Paper B, first half: one model per cell (caption kind, unconditional, duplication mode), the same copying,
quality and alignment metrics for each, and the two phenomena as headline numbers and a conclusion."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from copyscope import quality
from copyscope.artifacts.models import load_with_training_images
from copyscope.config import ModelSpec
from copyscope.metrics.uncertainty import Seeded, hierarchical
from copyscope.report import headline
from copyscope.studies.evaluation import Evaluation, evaluate
from copyscope.studies.prose import interval, num, pct
from copyscope.studies.session import Study
from copyscope.studies.verdicts import PREFIX, phrase, record, summary
from copyscope.threaded import cell_map

TITLE = "Conditioning and duplication (paper B)"
KEY_FIGURE = "bars.png"
DUPLICATION_MODES = {"image_caption": "image+caption", "image": "image only"}
METRIC = "similarity_p95"  # both phenomena are judged on paper B's dataset similarity score


def cell(spec: ModelSpec) -> dict:
    """What distinguishes a model's cell: its caption kind and its duplication, with a readable label."""
    duplicated = spec.duplication.fraction > 0 and spec.duplication.factor > 1
    duplication = DUPLICATION_MODES[spec.duplication.mode] if duplicated else "none"
    label = spec.captions if not duplicated else (
        f"{spec.captions}, {duplication} dup {spec.duplication.fraction:.3g}x{spec.duplication.factor}")
    return {"cell": label, "caption_kind": spec.captions, "duplication": duplication,
            "duplication_mode": spec.duplication.mode if duplicated else "none"}


def correctness_table(correctness: dict) -> pd.DataFrame:
    """The alignment score's ROC AUC of true against one-attribute-corrupted captions, overall and per attribute."""
    return pd.DataFrame({"true vs one-attribute-corrupted captions (ROC AUC)": {
        "all attributes": correctness["auc"], **correctness["auc_per_attribute"]}})


def measure(study: Study, alignment: Callable | None = None
            ) -> tuple[pd.DataFrame, dict[str, list[Evaluation]]]:
    """Evaluate every training seed of every cell's model on its own training captions (`per_item` seeded
    generations each; the seeds side by side, `cell_map`): the cells table (one row per model and seed; the Fréchet
    distance in pretrained features for the first seed only) and the evaluations by model name, per seed."""
    params = study.params
    pretrained_frechet = quality.PretrainedFrechet()

    def one(seed_of: tuple[str, int]) -> tuple[dict, Evaluation]:
        name, k = seed_of
        trained, training_images = load_with_training_images(name, k)
        evaluation = evaluate(trained, training_images, study.matcher, study.threshold, study.section.per_item,
                              params.seed, study.sampling, alignment=alignment)
        frechet = pretrained_frechet(evaluation.generations, training_images) if k == 0 else None
        return {"model": name, "seed": k, **cell(params.models[name]), **evaluation.row(),
                quality.COLUMN: frechet}, evaluation

    seeds = [(name, k) for name in study.section.models for k in range(params.models[name].seeds)]
    done = cell_map(one, seeds, desc="conditioning cells")
    evaluations = {name: [] for name in study.section.models}
    for (name, _), (_, evaluation) in zip(seeds, done):
        evaluations[name].append(evaluation)
    return pd.DataFrame([row for row, _ in done]), evaluations


def _first_seeds(table: pd.DataFrame) -> list[dict]:
    return table[table["seed"] == 0].to_dict("records")


def histogram_panels(table: pd.DataFrame, evaluations: dict[str, list[Evaluation]]
                     ) -> dict[str, dict[str, np.ndarray]]:
    """Per cell (its first seed): the generations' top-1 similarities beside the train-vs-train reference."""
    return {row["cell"]: {"generation vs train": evaluations[row["model"]][0].copying.matches.scores,
                          "train vs train": evaluations[row["model"]][0].baseline.scores}
            for row in _first_seeds(table)}


def gallery_panels(table: pd.DataFrame, evaluations: dict[str, list[Evaluation]]) -> dict[str, tuple]:
    """Per cell (its first seed): generations, their nearest training images and the similarities."""
    return {row["cell"]: (ev.generations, ev.nearest, ev.copying.matches.scores)
            for row in _first_seeds(table) for ev in [evaluations[row["model"]][0]]}


def most_copied(evaluations: dict[str, list[Evaluation]], table: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The n generations of each cell (its first seed) closest to a training image, with the prompt that asked
    for them."""
    rows = []
    for name, seeds in evaluations.items():
        ev = seeds[0]
        label = table.set_index("model").loc[name, "cell"]
        for i in np.argsort(-ev.copying.matches.scores, kind="stable")[:n]:
            rows.append({"cell": label, "prompt": ev.prompts[i], "similarity": float(ev.copying.matches.scores[i]),
                         "copies_its_prompt_item": bool(ev.copying.copies_its_prompt_item[i])})
    return pd.DataFrame(rows)


def seeded(evaluations: list[Evaluation], duplicated: bool | None = None) -> Seeded:
    """A cell's top-1 similarities over its seeds, the unit of each generation being the training item that
    prompted it; only the duplicated (True) or the other (False) items' generations if asked."""
    def rows(ev: Evaluation) -> np.ndarray:
        dup = ev.copying.duplicated[ev.copying.prompt_items]
        return np.ones(len(dup), dtype=bool) if duplicated is None else dup == duplicated

    return Seeded.of((ev.copying.matches.scores[rows(ev)], ev.copying.prompt_items[rows(ev)]) for ev in evaluations)


def headline_metrics(table: pd.DataFrame, evaluations: dict[str, list[Evaluation]], correctness: dict,
                     scale: str) -> dict:
    """The flat metrics of paper B's two findings on the dataset similarity score (p95), each with its 95% interval
    over seeds and training items: instance captions against unconditional training of the same images, and per
    duplication mode the duplicated items against the model's other items; with the alignment score's AUC."""
    threshold = next(iter(evaluations.values()))[0].copying.threshold
    statistic = {METRIC: lambda v: float(np.percentile(v, 95)),
                 "replica_fraction": lambda v: float(np.mean(v > threshold))}
    plain = table[(table["duplication"] == "none") & (table["seed"] == 0)].set_index("caption_kind")
    out = {"scale": scale}
    cells = {}
    for kind in ("instance", "unconditional"):
        cells[kind] = seeded(evaluations[plain.loc[kind, "model"]]) if kind in plain.index else None
    duplicated = table[(table["duplication"] != "none") & (table["seed"] == 0)]
    if duplicated["duplication_mode"].duplicated().any():
        raise ValueError("the headline metrics take one duplicated cell per duplication mode")
    for row in duplicated.to_dict("records"):
        for group, flag in (("duplicated", True), ("not_duplicated", False)):
            cells[f"{row['duplication_mode']}_{group}"] = seeded(evaluations[row["model"]], flag)
    # the seeds behind the findings: the fewest of any cell they compare
    out["seeds"] = min((c.seeds for c in cells.values() if c is not None), default=0)
    for name, cell_values in cells.items():
        for key, function in statistic.items():
            estimate = hierarchical(cell_values, function) if cell_values is not None else None
            out[f"{name}_{key}"] = None if estimate is None else estimate.value
            out[f"{name}_{key}_ci95"] = [None, None] if estimate is None else estimate.ci95
    if cells["instance"] is not None and cells["unconditional"] is not None:
        record(out, "captions", hierarchical(cells["instance"], statistic[METRIC], minus=cells["unconditional"]))
    for mode in duplicated["duplication_mode"]:
        record(out, f"{mode}_duplication", hierarchical(cells[f"{mode}_duplicated"], statistic[METRIC],
                                                       minus=cells[f"{mode}_not_duplicated"]))
    out["alignment_auc"] = correctness["auc"]
    out["summary"] = summary(out)
    return headline(out)


def describe(key: str) -> str:
    """A finding key of this study in words."""
    if key == "captions":
        return "instance captions copy more than unconditional training (p95)"
    return f"duplicated items ({DUPLICATION_MODES[key.removesuffix('_duplication')]}) copy more than the others (p95)"


def timing(table: pd.DataFrame, evaluations: dict[str, list[Evaluation]]) -> dict:
    """Sampling wall-clock per generated image, per cell (its first seed)."""
    return {"seconds_per_image": {row["cell"]: evaluations[row["model"]][0].seconds_per_image
                                  for row in _first_seeds(table)}}


def caption(metrics: dict) -> str:
    """One line under the key figure."""
    return (f"Copying per conditioning cell: p95 of top-1 similarity {num(metrics['instance_similarity_p95'])} with "
            f"instance captions against {num(metrics['unconditional_similarity_p95'])} unconditional.")


def _versus(metrics: dict, a: str, b: str) -> str:
    """Two groups' p95 and replica fraction with their intervals."""
    return (f"p95 {num(metrics[f'{a}_{METRIC}'])} {interval(metrics[f'{a}_{METRIC}_ci95'])} vs "
            f"{num(metrics[f'{b}_{METRIC}'])} {interval(metrics[f'{b}_{METRIC}_ci95'])}, replica fraction "
            f"{pct(metrics[f'{a}_replica_fraction'])} {interval(metrics[f'{a}_replica_fraction_ci95'], pct)} vs "
            f"{pct(metrics[f'{b}_replica_fraction'])} {interval(metrics[f'{b}_replica_fraction_ci95'], pct)}")


def conclusion(metrics: dict) -> str:
    """What holds at this scale, in Markdown, every number from `metrics`."""
    lines = [f"Intervals are 95% over {metrics['seeds']} training seed(s) (at least, per cell) and the training "
             f"items within each; a finding holds when the interval of its p95 difference excludes zero.", ""]
    if f"{PREFIX}captions" in metrics:
        lines.append(f"- **Captions.** Instance captions against unconditional training of the same images: "
                     f"{phrase(metrics, 'captions')}; {_versus(metrics, 'instance', 'unconditional')}.")
    for mode, label in DUPLICATION_MODES.items():
        if f"{PREFIX}{mode}_duplication" in metrics:
            lines.append(
                f"- **Duplication ({label}).** Duplicated items against the model's other items: "
                f"{phrase(metrics, f'{mode}_duplication')}; "
                f"{_versus(metrics, f'{mode}_duplicated', f'{mode}_not_duplicated')}.")
    lines.append(f"- **Alignment.** The offline alignment score prefers true over one-attribute-corrupted captions "
                 f"with ROC AUC {num(metrics['alignment_auc'], 2)} (0.5 is chance).")
    return "\n".join(lines)
