"""Paper B, first half: one model per cell (caption kind, unconditional, duplication mode), the same copying,
quality and alignment metrics for each, and the two phenomena as numbers."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from copyscope.config import ModelSpec, Params
from copyscope.studies.evaluation import Evaluation, evaluate, load_with_training_images

DUPLICATION_MODES = {"image_caption": "image+caption", "image": "image only"}


def cell(spec: ModelSpec) -> dict:
    """What distinguishes a model's cell: its caption kind and its duplication, with a readable label."""
    duplicated = spec.duplication.fraction > 0 and spec.duplication.factor > 1
    duplication = DUPLICATION_MODES[spec.duplication.mode] if duplicated else "none"
    label = spec.captions if not duplicated else (
        f"{spec.captions}, {duplication} dup {spec.duplication.fraction:.3g}x{spec.duplication.factor}")
    return {"cell": label, "caption_kind": spec.captions, "duplication": duplication}


def measure(names: Sequence[str], params: Params, extractor: Callable, threshold: float, per_item: int,
            alignment: Callable | None = None) -> tuple[pd.DataFrame, dict[str, Evaluation]]:
    """Evaluate every named model on its own training captions (per_item seeded generations each)."""
    rows, evaluations = [], {}
    for name in tqdm(names, desc="models"):
        trained, training_images = load_with_training_images(name)
        evaluations[name] = evaluate(
            trained, training_images, extractor, threshold, per_item, seed=params.seed, steps=params.sampling.steps,
            guidance=params.sampling.guidance, batch_size=params.sampling.batch_size, alignment=alignment,
        )
        rows.append({"model": name, **cell(params.models[name]), **evaluations[name].row()})
    return pd.DataFrame(rows), evaluations


def most_copied(evaluations: dict[str, Evaluation], table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The n generations of each cell closest to a training image, with the prompt that asked for them."""
    rows = []
    for name, ev in evaluations.items():
        label = table.set_index("model").loc[name, "cell"]
        for i in np.argsort(-ev.copying.matches.scores, kind="stable")[:n]:
            rows.append({"cell": label, "prompt": ev.prompts[i], "similarity": float(ev.copying.matches.scores[i]),
                         "copies_its_prompt_item": bool(ev.copying.copies_its_prompt_item[i])})
    return pd.DataFrame(rows)


def phenomena(table: pd.DataFrame, metric: str = "similarity_p95") -> dict:
    """Paper B's two findings checked on `metric` (default: the dataset similarity score, p95 of top-1 similarity):
    instance-level captions replicate more than unconditional training of the same images, and duplicated items
    more than the non-duplicated ones of the same model."""
    plain = table[table["duplication"] == "none"].set_index("caption_kind")
    out = {"metric": metric}
    if {"instance", "unconditional"} <= set(plain.index):
        instance, unconditional = plain.loc["instance"], plain.loc["unconditional"]
        out["instance_vs_unconditional"] = {
            **{f"instance_{k}": float(instance[k]) for k in ("similarity_p95", "similarity_mean", "replica_fraction")},
            **{f"unconditional_{k}": float(unconditional[k])
               for k in ("similarity_p95", "similarity_mean", "replica_fraction")},
            "holds": bool(instance[metric] > unconditional[metric]),
        }
    out["duplicated_vs_not"] = {
        row["cell"]: {
            "duplicated": float(row[f"duplicated_{metric}"]), "not_duplicated": float(row[f"not_duplicated_{metric}"]),
            "duplicated_replica_fraction": float(row["duplicated_replica_fraction"]),
            "not_duplicated_replica_fraction": float(row["not_duplicated_replica_fraction"]),
            "holds": bool(row[f"duplicated_{metric}"] > row[f"not_duplicated_{metric}"]),
        }
        for _, row in table[table["duplication"] != "none"].iterrows()
    }
    return out
