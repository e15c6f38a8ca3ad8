"""Paper C's benchmark with ground truth: which prompts are memorized, verified by generation, against clean prompts
of three kinds; every detector scored on the same prompts; token attribution checked by editing; the headline
metrics and a conclusion drawn from them.

Memorized = duplicated training prompts whose generations are mostly replicas of their own training image (top-1
match above the calibrated threshold). Clean groups, reported separately: unique (non-duplicated) training prompts,
novel prompts of the same grammar (images outside the training set), random-token prompts. Duplicated prompts that
were not verified are left out of the leaderboard.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from copyscope import paths
from copyscope.artifacts.models import TrainedModel, load_with_training_images
from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.training_set import random_token_caption
from copyscope.detection import anisotropy, attention_entropy, bright_ending, carlini, explain, magnitude, sharpness
from copyscope.detection.common import DetectorScores
from copyscope.detection.magnitude import MagnitudeTrajectory
from copyscope.detection.metrics import detection_metrics, leaderboard
from copyscope.detection.plots import magnitude_per_step, roc_curves, token_significance_bars
from copyscope.models.text_to_image import TextToImage
from copyscope.report import headline
from copyscope.studies.evaluation import generate_and_match
from copyscope.studies.prose import missing, num, pct
from copyscope.studies.session import Study

TITLE = "Detection (paper C and peers)"
KEY_FIGURE = "roc.png"
MEMORIZED, UNVERIFIED = "memorized", "duplicated, not verified"
CLEAN = ("unique training", "novel", "random tokens")
REPORTED_FIRST_STEP_AUC = 0.97  # paper C on Stable Diffusion v1.4 (first step): the reference for the conclusion


@dataclass
class DetectionBenchmark:
    prompts: list[str]
    groups: np.ndarray  # per prompt: MEMORIZED, UNVERIFIED or one of CLEAN
    replica_rate: np.ndarray  # per prompt: fraction of verification generations that copy its own training image
    # (NaN for prompts that have no training image)
    verified: bool = True  # False: no duplicated prompt was verified and all of them stand in as the positives

    @property
    def scored(self) -> np.ndarray:
        """The prompts the leaderboard uses: memorized and clean."""
        return self.groups != UNVERIFIED

    @property
    def memorized(self) -> np.ndarray:
        return self.groups == MEMORIZED

    @property
    def positives(self) -> str:
        """What the leaderboard's positives are."""
        return "verified replicas" if self.verified else (
            "duplicated prompts, NOT verified (no duplicated prompt was replicated)")

    def unverified_as_memorized(self) -> "DetectionBenchmark":
        """Where no duplicated prompt was verified (e.g. the tiny smoke models), all duplicated prompts as positives:
        the leaderboard then measures detection of duplication, not of memorization, and must say so."""
        return DetectionBenchmark(self.prompts, np.where(self.groups == UNVERIFIED, MEMORIZED, self.groups),
                                  self.replica_rate, verified=False)

    def group_masks(self) -> dict[str, np.ndarray]:
        """One boolean mask per group present, in order of first appearance."""
        return {group: self.groups == group for group in pd.unique(self.groups)}

    def design(self) -> dict:
        """How many prompts of each group, and the replica rates that justify the labels (flat)."""
        out = {g: int((self.groups == g).sum()) for g in (MEMORIZED, UNVERIFIED, *CLEAN)}
        duplicated = np.isin(self.groups, (MEMORIZED, UNVERIFIED))
        out["replica_rate_duplicated"] = float(np.nanmean(self.replica_rate[duplicated]))
        out["replica_rate_unique_training"] = float(np.nanmean(self.replica_rate[self.groups == CLEAN[0]]))
        return out


def load_model(study: Study) -> tuple[TrainedModel, np.ndarray, ImageCaptionSet]:
    """The detection model, the images it trained on and its whole dataset (novel prompts come from the rest)."""
    trained, training_images = load_with_training_images(study.section.model)
    return trained, training_images, ImageCaptionSet.load(paths.dataset_dir(trained.record["dataset"]))


def replica_rate(study: Study, trained: TrainedModel, training_images: np.ndarray, items, prompts: list[str]
                 ) -> np.ndarray:
    """Per prompt, the fraction of its `verify_generations` whose top-1 match is its own training item `items[i]`,
    above the threshold."""
    generations = study.section.verify_generations
    asked = [p for p in prompts for _ in range(generations)]
    matches = generate_and_match(trained, training_images, asked, study.matcher, study.params.seed,
                                 study.sampling).matches
    own = (matches.indices == np.repeat(items, generations)) & (matches.scores > study.threshold)
    return own.reshape(len(prompts), generations).mean(axis=1)


def build_benchmark(study: Study, trained: TrainedModel, training_images: np.ndarray,
                    data: ImageCaptionSet) -> DetectionBenchmark:
    """Label the duplicated prompts by verification; draw `n_prompts` of each clean group (seeded). Where none is
    verified, the duplicated prompts stand in as positives (`verified` False)."""
    n_prompts = study.section.n_prompts
    rng = np.random.default_rng([study.params.seed, 23])
    duplicated = np.flatnonzero(trained.duplicated)
    unique = rng.choice(np.flatnonzero(~trained.duplicated), size=min(n_prompts, int((~trained.duplicated).sum())),
                        replace=False)
    items = np.r_[duplicated, unique]
    rates = replica_rate(study, trained, training_images, items, [trained.prompts[i] for i in items])
    seen = set(trained.record["ids"])
    outside = [i for i, image_id in enumerate(data.ids) if image_id not in seen]
    novel = [data.captions[i][0] for i in rng.choice(outside, size=min(n_prompts, len(outside)), replace=False)]
    random_prompts = [random_token_caption(rng, 8) for _ in range(n_prompts)]
    verified = rates[:len(duplicated)] > 0.5
    groups = np.r_[np.where(verified, MEMORIZED, UNVERIFIED), np.full(len(unique), CLEAN[0]),
                   np.full(len(novel), CLEAN[1]), np.full(n_prompts, CLEAN[2])]
    bench = DetectionBenchmark(
        prompts=[trained.prompts[i] for i in items] + novel + random_prompts, groups=groups,
        replica_rate=np.r_[rates, np.full(len(novel) + n_prompts, np.nan)],
    )
    return bench if bench.memorized.any() else bench.unverified_as_memorized()


def _common(study: Study) -> dict:
    """The sampling arguments every detector shares."""
    return dict(steps=study.sampling.steps, seed=study.params.seed, batch_size=study.section.batch_size,
                progress=False)


@dataclass
class WenVariants:
    """Wen et al.'s magnitude over steps × generations: the recorded trajectories and the scores read from them."""

    trajectories: dict[int, MagnitudeTrajectory]  # by number of generations
    scores: list[DetectorScores]  # per number of generations: each of `first_steps`, then all steps

    @property
    def most_generations(self) -> MagnitudeTrajectory:
        return self.trajectories[max(self.trajectories)]


def wen_variants(study: Study, model: TextToImage, bench: DetectionBenchmark) -> WenVariants:
    """One guided run per number of generations records the magnitude at every step; each of `first_steps` (that
    the schedule has) and all steps are read from it, each costed as if only those steps had run."""
    section, steps = study.section, study.sampling.steps
    trajectories = {g: magnitude.magnitude_trajectory(model, bench.prompts, generations=g,
                                                      guidance=study.sampling.guidance, **_common(study))
                    for g in section.generations}
    scores = [magnitude.wen_scores(trajectory, k) for trajectory in trajectories.values()
              for k in [*section.first_steps, None] if k is None or k <= steps]
    return WenVariants(trajectories, scores)


def peers(study: Study, model: TextToImage, bench: DetectionBenchmark) -> list[DetectorScores]:
    """The later detectors on the same prompts: the sampling-based ones with the most generations, the first-step
    ones with one."""
    many, guidance, common = max(study.section.generations), study.sampling.guidance, _common(study)
    return [
        carlini.carlini_scores(model, bench.prompts, generations=many, guidance=guidance, **common),
        attention_entropy.ren_entropy_scores(model, bench.prompts, generations=1, **common),
        bright_ending.bright_ending_scores(model, bench.prompts, generations=many, guidance=guidance, **common),
        sharpness.sharpness_scores(model, bench.prompts, generations=1, **common),
        anisotropy.anisotropy_scores(model, bench.prompts, generations=1, **common),
    ]


def run_label(result: DetectorScores) -> str:
    """A detector run's name, e.g. "Wen et al. magnitude | 1 steps | 1 gen"."""
    return f"{result.method} | {result.steps} steps | {result.generations} gen"


def subset(result: DetectorScores, keep: np.ndarray) -> DetectorScores:
    """A detector's scores on some of the prompts, its cost scaled to match."""
    keep = np.asarray(keep, dtype=bool)
    return DetectorScores(result.method, result.scores[keep], result.steps, result.generations,
                          result.unet_evals_per_prompt, result.seconds * keep.sum() / len(keep))


def ranked(results: list[DetectorScores], bench: DetectionBenchmark) -> pd.DataFrame:
    """The leaderboard over memorized vs all clean prompts, with each detector's AUC against each clean group
    (deterministic columns only: the seconds are in `timing`)."""
    scored = [subset(r, bench.scored) for r in results]
    groups = bench.groups[bench.scored]
    board = leaderboard(scored, bench.memorized[bench.scored]).drop(columns="seconds_per_prompt")
    by_run = {(r.method, r.steps, r.generations): r for r in scored}
    in_board_order = [by_run[run] for run in zip(board["method"], board["steps"], board["generations"])]
    for group in CLEAN:
        board[f"auc_vs_{group.replace(' ', '_')}"] = [
            detection_metrics(r.scores[groups == MEMORIZED], r.scores[groups == group])["auc"]
            if (groups == group).any() else np.nan for r in in_board_order]
    return board


def roc_table(results: list[DetectorScores], bench: DetectionBenchmark) -> pd.DataFrame:
    """Every run's ROC curve, memorized vs all clean prompts, in long format: detector (the run's label), method,
    steps, generations, fpr, tpr."""
    frames = []
    for result in results:
        roc = detection_metrics(result.scores[bench.memorized], result.scores[bench.scored & ~bench.memorized])["roc"]
        frames.append(pd.DataFrame({"detector": run_label(result), "method": result.method, "steps": result.steps,
                                    "generations": result.generations, "fpr": roc["fpr"], "tpr": roc["tpr"]}))
    return pd.concat(frames, ignore_index=True)


def roc_figure(wen: WenVariants, peer_results: list[DetectorScores], bench: DetectionBenchmark):
    """ROC curves of the first and the last Wen variant and of every peer."""
    ax = roc_curves([subset(r, bench.scored) for r in [wen.scores[0], wen.scores[-1], *peer_results]],
                    bench.memorized[bench.scored])
    ax.set_title("memorized vs all clean prompts")
    return ax.figure


def magnitude_curves(wen: WenVariants, bench: DetectionBenchmark) -> pd.DataFrame:
    """The mean magnitude per sampling step of each prompt group (the run with the most generations): prompts,
    step, magnitude."""
    per_step = wen.most_generations.per_step
    return pd.DataFrame([(group, step + 1, float(value)) for group, mask in bench.group_masks().items()
                         for step, value in enumerate(per_step[mask].mean(axis=0))],
                        columns=["prompts", "step", "magnitude"])


def magnitude_figure(wen: WenVariants, bench: DetectionBenchmark):
    """Mean magnitude per sampling step of each prompt group, with 95% intervals."""
    ax = magnitude_per_step(wen.most_generations, bench.group_masks())
    ax.set_title("Conditional-noise magnitude along the sampling path")
    return ax.figure


def most_memorized(trajectory: MagnitudeTrajectory, bench: DetectionBenchmark, n: int) -> list[int]:
    """The n memorized prompts with the largest first-step magnitude (mean over generations), largest first."""
    first_step = pd.Series(trajectory.magnitudes[:, :, 0].mean(axis=1)).where(bench.memorized)
    return list(first_step.dropna().sort_values(ascending=False).index[:n])


def token_edits(study: Study, trained: TrainedModel, training_images: np.ndarray, bench: DetectionBenchmark,
                wen: WenVariants) -> pd.DataFrame:
    """Paper C's explanation checked by editing: for the `explain` most memorized prompts (by first-step
    magnitude, with the most generations), the per-token significance, the prompt with its most significant token
    dropped, and the first-step magnitude and replica rate before and after. One row per prompt; the
    significances (for the bar charts) are in `frame.attrs["significance"]`."""
    model, generations, common = trained.model, max(wen.trajectories), _common(study)
    top = most_memorized(wen.most_generations, bench, study.section.explain)
    original = [bench.prompts[i] for i in top]
    significance = explain.token_significance(model, original, generations=generations, **common)
    edited = [explain.edit_prompt(model.tokenizer, s, k=1, mode="drop") for s in significance]
    items = [trained.prompts.index(prompt) for prompt in original]
    before = magnitude.wen_magnitude(model, original, generations=generations, **common).scores
    after = magnitude.wen_magnitude(model, edited, generations=generations, **common).scores
    frame = pd.DataFrame({
        "original": original, "edited": edited, "magnitude_before": before, "magnitude_after": after,
        "replica_rate_before": replica_rate(study, trained, training_images, items, original),
        "replica_rate_after": replica_rate(study, trained, training_images, items, edited),
    })
    frame.attrs["significance"] = significance
    return frame


def significance_figure(edits: pd.DataFrame):
    """One token-significance bar chart per explained prompt."""
    significance = edits.attrs["significance"]
    fig, axes = plt.subplots(len(significance), 1, figsize=(8, 2.8 * len(significance)), squeeze=False)
    for ax, result in zip(axes[:, 0], significance):
        token_significance_bars(result, ax=ax)
    fig.tight_layout()
    return fig


def headline_metrics(board: pd.DataFrame, bench: DetectionBenchmark, edits: pd.DataFrame, first_steps: list[int],
                     scale: str) -> dict:
    """The flat metrics: the benchmark's labels, Wen et al.'s first-step AUC and TPR@1%FPR with one generation (the
    row paper C's table leads with) and its AUC over the longest early read of `first_steps`, the best peer, and
    the token edit's before and after (means over the explained prompts)."""
    design = bench.design()
    one = board[(board["method"] == magnitude.METHOD) & (board["generations"] == 1)]
    first = one[one["steps"] == 1]
    out = {"scale": scale, "memorized_prompts": design[MEMORIZED] if bench.verified else 0,
           "replica_rate_duplicated": design["replica_rate_duplicated"],
           "replica_rate_unique_training": design["replica_rate_unique_training"],
           "wen_first_step_auc": first["auc"].iloc[0] if len(first) else None,
           "wen_first_step_tpr@1%fpr": first["tpr@1%fpr"].iloc[0] if len(first) else None}
    early = [k for k in first_steps if k > 1 and k in set(one["steps"])]
    if early:
        out[f"wen_{max(early)}_steps_auc"] = one.loc[one["steps"] == max(early), "auc"].iloc[0]
    others = board[board["method"] != magnitude.METHOD]
    out["best_peer"] = others["method"].iloc[0] if len(others) else None
    out["best_peer_auc"] = others["auc"].iloc[0] if len(others) else None
    for column in ("magnitude_before", "magnitude_after", "replica_rate_before", "replica_rate_after"):
        out[f"token_edit_{column}"] = float(edits[column].mean())
    return headline(out)


def timing(results: list[DetectorScores], bench: DetectionBenchmark) -> dict:
    """Wall-clock seconds per scored prompt of every detector run."""
    return {"seconds_per_prompt": {run_label(r): subset(r, bench.scored).seconds_per_prompt for r in results}}


def early_steps(metrics: dict) -> int | None:
    """The longest early read of Wen et al.'s magnitude in the metrics (the `wen_<k>_steps_auc` key)."""
    found = [int(key.split("_")[1]) for key in metrics if key.startswith("wen_") and key.endswith("_steps_auc")]
    return max(found) if found else None


def caption(metrics: dict) -> str:
    """One line under the key figure."""
    return (f"ROC curves, memorized vs all clean prompts: Wen et al.'s first-step magnitude AUC "
            f"{num(metrics['wen_first_step_auc'])}, best peer ({metrics['best_peer']}) "
            f"{num(metrics['best_peer_auc'])}.")


def conclusion(metrics: dict) -> str:
    """What holds at this scale, in Markdown, every number from `metrics`."""
    memorized = metrics["memorized_prompts"]
    labels = (f"- **Benchmark.** {memorized} duplicated prompts are verified memorized; the duplicated prompts' "
              f"generations copy their own training image {pct(metrics['replica_rate_duplicated'])} of the time, "
              f"unique training prompts' {pct(metrics['replica_rate_unique_training'])}."
              if memorized else
              "- **Benchmark.** No duplicated prompt was verified memorized: the positives are all duplicated "
              "prompts, so the leaderboard measures detection of duplication, not of memorization.")
    first = metrics["wen_first_step_auc"]
    strong = not missing(first) and first >= REPORTED_FIRST_STEP_AUC
    wen = (f"- **Wen et al., first step.** With one generation the magnitude separates memorized from clean prompts "
           f"with AUC {num(first)} (TPR@1%FPR {num(metrics['wen_first_step_tpr@1%fpr'], 2)}): "
           f"{'as strong as' if strong else 'short of'} the {num(REPORTED_FIRST_STEP_AUC, 2)} paper C reports on "
           f"Stable Diffusion.")
    k = early_steps(metrics)
    if k is not None:
        later = metrics[f"wen_{k}_steps_auc"]
        better = not missing(later) and not missing(first) and later > first
        wen += (f" Read over the first {k} steps it {'improves' if better else 'does not improve'}: AUC "
                f"{num(later)}.")
    best_peer, peer_auc = metrics["best_peer"], metrics["best_peer_auc"]
    beaten = not missing(peer_auc) and not missing(first) and peer_auc > first
    peer = (f"- **Peers.** The best later detector is {best_peer} (AUC {num(peer_auc)}), "
            f"{'above' if beaten else 'not above'} the first-step magnitude.")
    before, after = metrics["token_edit_replica_rate_before"], metrics["token_edit_replica_rate_after"]
    breaks = not missing(before) and not missing(after) and after < before
    edit = (f"- **Token attribution.** Dropping the most significant token {'lowers' if breaks else 'does NOT lower'} "
            f"the copying of the explained prompts: replica rate {pct(before)} → {pct(after)}, first-step magnitude "
            f"{num(metrics['token_edit_magnitude_before'], 6)} → {num(metrics['token_edit_magnitude_after'], 6)}.")
    return "\n".join([labels, wen, peer, edit])
