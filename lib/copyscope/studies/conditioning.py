"""Paper B, first half: one model per cell (caption kind, unconditional, duplication mode), the same copying,
quality and alignment metrics for each, and the two phenomena as headline numbers and a conclusion."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from copyscope.artifacts.models import load_with_training_images
from copyscope.config import ModelSpec
from copyscope.report import headline
from copyscope.studies.evaluation import Evaluation, evaluate
from copyscope.studies.prose import missing, num, pct
from copyscope.studies.session import Study

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


def measure(study: Study, alignment: Callable | None = None) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """Evaluate every cell's model on its own training captions (`per_item` seeded generations each): the cells
    table and the evaluations by model name."""
    params, rows, evaluations = study.params, [], {}
    for name in study.section.models:
        trained, training_images = load_with_training_images(name)
        evaluations[name] = evaluate(trained, training_images, study.matcher, study.threshold,
                                     study.section.per_item, params.seed, study.sampling, alignment=alignment)
        rows.append({"model": name, **cell(params.models[name]), **evaluations[name].row()})
    return pd.DataFrame(rows), evaluations


def histogram_panels(table: pd.DataFrame, evaluations: dict[str, Evaluation]) -> dict[str, dict[str, np.ndarray]]:
    """Per cell: the generations' top-1 similarities beside the train-vs-train reference."""
    return {row["cell"]: {"generation vs train": evaluations[row["model"]].copying.matches.scores,
                          "train vs train": evaluations[row["model"]].baseline.scores}
            for row in table.to_dict("records")}


def gallery_panels(table: pd.DataFrame, evaluations: dict[str, Evaluation]) -> dict[str, tuple]:
    """Per cell: generations, their nearest training images and the similarities."""
    return {row["cell"]: (ev.generations, ev.nearest, ev.copying.matches.scores)
            for row in table.to_dict("records") for ev in [evaluations[row["model"]]]}


def most_copied(evaluations: dict[str, Evaluation], table: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The n generations of each cell closest to a training image, with the prompt that asked for them."""
    rows = []
    for name, ev in evaluations.items():
        label = table.set_index("model").loc[name, "cell"]
        for i in np.argsort(-ev.copying.matches.scores, kind="stable")[:n]:
            rows.append({"cell": label, "prompt": ev.prompts[i], "similarity": float(ev.copying.matches.scores[i]),
                         "copies_its_prompt_item": bool(ev.copying.copies_its_prompt_item[i])})
    return pd.DataFrame(rows)


def headline_metrics(table: pd.DataFrame, correctness: dict, scale: str) -> dict:
    """The flat metrics of paper B's two findings on the dataset similarity score (p95): instance captions against
    unconditional training of the same images, and per duplication mode the duplicated items against the model's
    other items; with the alignment score's correctness AUC."""
    plain = table[table["duplication"] == "none"].set_index("caption_kind")
    out = {"scale": scale}
    for kind in ("instance", "unconditional"):
        row = plain.loc[kind] if kind in plain.index else None
        for key in (METRIC, "replica_fraction"):
            out[f"{kind}_{key}"] = None if row is None else row[key]
    known = {"instance", "unconditional"} <= set(plain.index)
    out["instance_replicates_more"] = bool(known and plain.loc["instance", METRIC] > plain.loc["unconditional", METRIC])
    duplicated = table[table["duplication"] != "none"]
    if duplicated["duplication_mode"].duplicated().any():
        raise ValueError("the headline metrics take one duplicated cell per duplication mode")
    for row in duplicated.to_dict("records"):
        mode = row["duplication_mode"]
        for group in ("duplicated", "not_duplicated"):
            for key in (METRIC, "replica_fraction"):
                out[f"{mode}_{group}_{key}"] = row[f"{group}_{key}"]
        more = row[f"duplicated_{METRIC}"] > row[f"not_duplicated_{METRIC}"]
        out[f"{mode}_duplicated_replicates_more"] = bool(more)
    out["alignment_auc"] = correctness["auc"]
    return headline(out)


def timing(table: pd.DataFrame, evaluations: dict[str, Evaluation]) -> dict:
    """Sampling wall-clock per generated image, per cell."""
    return {"seconds_per_image": {row["cell"]: evaluations[row["model"]].seconds_per_image
                                  for row in table.to_dict("records")}}


def caption(metrics: dict) -> str:
    """One line under the key figure."""
    return (f"Copying per conditioning cell: p95 of top-1 similarity {num(metrics['instance_similarity_p95'])} with "
            f"instance captions against {num(metrics['unconditional_similarity_p95'])} unconditional.")


def _replicates(holds: bool) -> str:
    return "replicate more" if holds else "do NOT replicate more"


def _versus(metrics: dict, a: str, b: str) -> str:
    """Two groups' p95 and replica fraction, e.g. "p95 0.885 vs 0.671, replica fraction 0.0% vs 0.0%"."""
    return (f"p95 {num(metrics[f'{a}_{METRIC}'])} vs {num(metrics[f'{b}_{METRIC}'])}, replica fraction "
            f"{pct(metrics[f'{a}_replica_fraction'])} vs {pct(metrics[f'{b}_replica_fraction'])}")


def conclusion(metrics: dict) -> str:
    """What holds at this scale, in Markdown, every number from `metrics`."""
    lines = []
    if not missing(metrics["instance_similarity_p95"]) and not missing(metrics["unconditional_similarity_p95"]):
        lines.append(f"- **Captions.** Instance captions {_replicates(metrics['instance_replicates_more'])} than "
                     f"unconditional training of the same images: {_versus(metrics, 'instance', 'unconditional')}.")
    for mode, label in DUPLICATION_MODES.items():
        if f"{mode}_duplicated_replicates_more" in metrics:
            lines.append(
                f"- **Duplication ({label}).** Duplicated items "
                f"{_replicates(metrics[f'{mode}_duplicated_replicates_more'])} than the model's other items: "
                f"{_versus(metrics, f'{mode}_duplicated', f'{mode}_not_duplicated')}.")
    lines.append(f"- **Alignment.** The offline alignment score prefers true over one-attribute-corrupted captions "
                 f"with ROC AUC {num(metrics['alignment_auc'], 2)} (0.5 is chance).")
    return "\n".join(lines)
