"""Paper A's duplication finding on real data: a text-to-image model trained on OpenMoji emoji under their Unicode
names. Do emoji whose training set holds a family of near-duplicates (an emoji and its five skin tones) copy more
than emoji without variants?

Copies are judged by every offline extractor (raw pixels, ImageNet-pretrained EfficientNet-Lite0), ranked on a copy
benchmark built from emoji the model never saw. Each judges at the similarity that different designs of the training
set rarely reach (`design_thresholds`); the verdict is reported per extractor, so a reader sees whether they agree.
The unit every interval resamples is the emoji (within a training seed), never the generations of one emoji.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from copyscope import paths
from copyscope.artifacts.calibration import extractor_options
from copyscope.artifacts.models import load_with_training_images
from copyscope.benchmark.copies import build_benchmark
from copyscope.benchmark.ranking import rank_extractors
from copyscope.config import Params
from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.sources import emoji_set
from copyscope.embed.registry import get_extractor
from copyscope.metrics.uncertainty import Seeded, hierarchical
from copyscope.sampling import generate
from copyscope.studies.evaluation import Matched, Matcher, prompt_plan
from copyscope.studies.prose import interval, num, pct
from copyscope.studies.session import Study
from copyscope.studies.verdicts import PREFIX, phrase, record

CANDIDATES = ("pixel", "efficientnet_lite0")  # the extractors that need no download


def heldout(training: ImageCaptionSet) -> ImageCaptionSet:
    """One emoji per family (its first in the font's order) of every family outside the model's training pool, at
    its resolution: the copy benchmark's images. A family is one design, as it is for the study, which counts a
    generation matching any member of a training family as a copy of it; a benchmark holding two skin tones of one
    design would call that match an error, as a copy's source and a distractor (or a copy's target and a database
    image) could be siblings."""
    everything = emoji_set(training.resolution)
    trained = set(training.labels)
    first = {}
    for i, family in enumerate(everything.labels):
        if family not in trained:
            first.setdefault(family, i)
    return everything.subset(sorted(first.values()))


def training_pool(study: Study) -> ImageCaptionSet:
    """The emoji dataset the model trains on (all of it: whole families of emoji)."""
    return ImageCaptionSet.load(paths.dataset_dir(study.params.models[study.section.emoji_model].dataset))


def rank_on_emoji(study: Study, training: ImageCaptionSet) -> tuple[pd.DataFrame, dict]:
    """The offline extractors ranked on copies of held-out emoji (the extractor stage's benchmark settings), best
    mAP first, each with its threshold at the calibrated precision; and the extractors themselves."""
    images = heldout(training)
    table, extractors = rank_offline(images.images, images.masks, training.resolution, study.params)
    return table.assign(benchmark="emoji (held out)"), extractors


def rank_offline(images: np.ndarray, masks: np.ndarray, resolution: int, params: Params
                 ) -> tuple[pd.DataFrame, dict]:
    """The offline extractors (`CANDIDATES`) ranked on a copy benchmark built from `images` with the extractor
    stage's settings: the table (best mAP first, thresholds at the calibrated precision) and the extractors."""
    spec = params.extractors
    benchmark = build_benchmark(images, masks, seed=params.seed, **spec.benchmark.model_dump())
    extractors = {name: get_extractor(name, **extractor_options(name, resolution)) for name in CANDIDATES}
    return rank_extractors(benchmark, extractors, spec.precision).drop(columns="preprocessing"), extractors


# A generation is an emoji replica when it lies closer to a training emoji than this share of training emoji lie to
# their nearest emoji of another family: at most 5% of the training set's different designs are that alike.
DISTINCT_DESIGN_QUANTILE = 0.95


def design_thresholds(study: Study, extractors: dict, quantile: float = DISTINCT_DESIGN_QUANTILE
                      ) -> dict[str, float]:
    """Per extractor, the similarity that different designs of the emoji model's training set rarely reach
    (`distinct_design_threshold`). The copy benchmark calibrates on partial copies pasted onto emoji the model never
    saw; a generation that redraws a whole training emoji is judged against the training set itself."""
    trained, images = load_with_training_images(study.section.emoji_model, 0)  # every seed trains on these
    families = family_labels(training_pool(study), trained)
    return {name: distinct_design_threshold(extractor(images), families, quantile)
            for name, extractor in extractors.items()}


def distinct_design_threshold(embeddings: np.ndarray, families, quantile: float) -> float:
    """The `quantile` of each image's top-1 similarity (inner product of the embeddings) to an image of another
    family; its own family, itself included, is left out."""
    families = np.asarray(families)
    if len(set(families.tolist())) < 2:
        raise ValueError("a distinct-design threshold needs images of at least two families")
    similarity = np.asarray(embeddings, dtype=np.float64) @ np.asarray(embeddings, dtype=np.float64).T
    similarity[families[:, None] == families[None, :]] = -np.inf
    return float(np.quantile(similarity.max(axis=1), quantile))


def family_labels(data: ImageCaptionSet, trained) -> pd.Series:
    """The family of each of the model's training emoji, in its training order."""
    index = {image_id: i for i, image_id in enumerate(data.ids)}
    return pd.Series([data.labels[index[i]] for i in trained.record["ids"]])


@dataclass
class EmojiResults:
    """The emoji model's generations matched by each extractor: one table row per seed, extractor and emoji (its
    family size in the training set, replica rate, mean top-1 similarity), the matches per extractor and seed, and
    the training images (every seed trains on the same)."""

    table: pd.DataFrame
    matched: dict[str, list[Matched]]
    training_images: np.ndarray

    def histogram_panel(self, name: str) -> dict[str, np.ndarray]:
        """Generation-vs-train top-1 similarities (every seed) beside the train-vs-train reference."""
        return {"generation vs train": np.concatenate([m.matches.scores for m in self.matched[name]]),
                "train vs train": self.matched[name][0].baseline.scores}

    def gallery_panel(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first seed's generations, their nearest training emoji by `name`'s judgement, the similarities."""
        first = self.matched[name][0]
        return first.generations, self.training_images[first.matches.indices], first.matches.scores


def measure(study: Study, extractors: dict, thresholds: dict[str, float]) -> EmojiResults:
    """Every training seed of the emoji model: `emoji_per_item` seeded generations per training emoji, prompted
    with its name, matched against the training set by each extractor at its threshold."""
    section, params = study.section, study.params
    data = training_pool(study)
    rows, matched = [], {name: [] for name in extractors}
    for k in range(params.models[section.emoji_model].seeds):
        trained, training_images = load_with_training_images(section.emoji_model, k)
        families = family_labels(data, trained)
        size = families.map(families.value_counts()).to_numpy()
        prompts, items = prompt_plan(trained, section.emoji_per_item)
        images = generate(trained.model, prompts, seed=params.seed, steps=study.sampling.steps,
                          guidance=study.sampling.guidance, batch_size=study.sampling.batch_size, progress=False)
        for name, extractor in extractors.items():
            result = Matcher(extractor).match(images, training_images)
            matched[name].append(result)
            for i, prompt in enumerate(trained.prompts):
                own = result.matches.scores[items == i]
                rows.append({"seed": k, "extractor": name, "emoji": prompt, "family": families[i],
                             "family_size": int(size[i]), "replica_rate": float(np.mean(own > thresholds[name])),
                             "similarity_mean": float(own.mean())})
    return EmojiResults(pd.DataFrame(rows), matched, training_images)


def by_family_size(table: pd.DataFrame) -> pd.DataFrame:
    """Replica rate per extractor and family size, the mean over emoji and seeds with its 95% interval."""
    rows = []
    for (name, size), group in table.groupby(["extractor", "family_size"], sort=True):
        estimate = hierarchical(_seeded(group), np.mean)
        rows.append({"extractor": name, "family_size": size, "emoji": int(group["emoji"].nunique()),
                     "replica_rate": estimate.value, "low": estimate.low, "high": estimate.high})
    return pd.DataFrame(rows)


def _seeded(group: pd.DataFrame) -> Seeded:
    """Per seed, the emoji's replica rates, each emoji its own unit."""
    return Seeded.of((part["replica_rate"].to_numpy(), np.arange(len(part))) for _, part in group.groupby("seed"))


def most_copied(table: pd.DataFrame, extractor: str, n: int = 10) -> pd.DataFrame:
    """The n emoji copied most often by `extractor`'s judgement (mean over seeds)."""
    mine = table[table["extractor"] == extractor]
    means = mine.groupby(["emoji", "family_size"], as_index=False)[["replica_rate", "similarity_mean"]].mean()
    return means.sort_values(["replica_rate", "similarity_mean"], ascending=False, kind="stable").head(n)


def headline_metrics(bench: pd.DataFrame, table: pd.DataFrame, thresholds: dict[str, float]) -> dict:
    """The emoji section's flat metrics: each extractor's mAP on the emoji copy benchmark, the best one and the
    threshold it judged at, the replica rate of emoji with and without skin-tone variants (best extractor) with
    intervals, and per extractor the difference with its verdict (the paper's direction: families copy more)."""
    out, chosen = {}, bench["name"].iloc[0]
    ranked = bench.set_index("name")
    out["emoji_extractor"] = chosen
    for name in ranked.index:
        out[f"emoji_{name}_map"] = ranked.loc[name, "mAP"]
    out["emoji_threshold"] = thresholds[chosen]
    for name, group in table.groupby("extractor", sort=False):
        single, family = group[group["family_size"] == 1], group[group["family_size"] > 1]
        if name == chosen:
            for label, part in (("single", single), ("family", family)):
                estimate = hierarchical(_seeded(part), np.mean)
                out[f"emoji_{label}_replica_rate"] = estimate.value
                out[f"emoji_{label}_replica_rate_ci95"] = estimate.ci95
        record(out, f"emoji_families_{name}", hierarchical(_seeded(family), np.mean, minus=_seeded(single)),
               seeds=_seeded(family).seeds)
    return out


def describe(key: str) -> str:
    """A finding key of the emoji section in words."""
    return f"emoji with skin-tone variants copy more than emoji without ({key.removeprefix('emoji_families_')})"


def conclusion(metrics: dict) -> str:
    """The emoji section's findings, every number from `metrics`."""
    chosen = metrics["emoji_extractor"]
    maps = ", ".join(f"`{key[len('emoji_'):-len('_map')]}` {num(metrics[key])}" for key in sorted(metrics)
                     if key.startswith("emoji_") and key.endswith("_map"))
    lines = [f"- **Emoji (OpenMoji, real data).** Copy benchmark on held-out emoji, mAP: {maps}; `{chosen}` is "
             f"used, judging at similarity {num(metrics['emoji_threshold'])} (reached by "
             f"{pct(1 - DISTINCT_DESIGN_QUANTILE)} of the training set's different designs). Emoji with skin-tone variants in the training set "
             f"replicate {pct(metrics['emoji_family_replica_rate'])} "
             f"{interval(metrics['emoji_family_replica_rate_ci95'], pct)} of the time, emoji without "
             f"{pct(metrics['emoji_single_replica_rate'])} {interval(metrics['emoji_single_replica_rate_ci95'], pct)}."]
    for key in sorted(metrics):  # the order JSON keeps
        if key.startswith(f"{PREFIX}emoji_families_"):
            finding = key[len(PREFIX):]
            lines.append(f"  - judged by `{finding.removeprefix('emoji_families_')}`: "
                         f"{phrase(metrics, finding, pct)}")
    return "\n".join(lines)
