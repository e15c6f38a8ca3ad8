"""Paper C's benchmark with ground truth: prompts labelled memorized by generation, against clean prompts of three
kinds; every detector scored on the same prompts, on the trained model and on the same model untrained (the
control); token attribution checked by editing; the headline metrics and a conclusion drawn from them.

Memorized = training prompts whose generations are mostly replicas of their own training images (verified, see
`copyscope.studies.verification`): matching-verbatim (MV) and template-verbatim (TV) duplicates, and any unique
training prompt that verification finds replicated. Clean groups, reported separately: unique training prompts that
are not replicated, novel prompts of the same grammar (images outside the training set), and random-token prompts
with a title word. Duplicated prompts that are not verified are left out of the leaderboard, never relabelled by a
detector. Every AUC and TPR@1%FPR carries a 95% bootstrap interval over prompts.
"""
from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from copyscope import paths
from copyscope.artifacts.models import TrainedModel, load_with_training_images
from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.sources import TITLE as TITLE_SEPARATOR
from copyscope.data.training_set import MV, TV, UNIQUE, random_token_caption
from copyscope.detection import anisotropy, attention_entropy, bright_ending, carlini, explain, magnitude, sharpness
from copyscope.detection.common import DetectorScores
from copyscope.detection.magnitude import MagnitudeTrajectory
from copyscope.detection.metrics import detection_metrics
from copyscope.detection.plots import magnitude_per_step, roc_curves, token_significance_bars
from copyscope.devices import pick_device
from copyscope.metrics import uncertainty
from copyscope.models.text_to_image import TextToImage
from copyscope.report import headline
from copyscope.stages.train import untrained_model
from copyscope.studies.prompt_benchmark import CLEAN, MEMORIZED, UNVERIFIED, DetectionBenchmark
from copyscope.studies.prose import interval, missing, num, pct, signed
from copyscope.studies.session import Study
from copyscope.studies.verdicts import record, summary
from copyscope.studies.verification import duplicated_candidates, replica_rates, unique_candidates, verify

TITLE = "Detection (paper C and peers)"
KEY_FIGURE = "roc.png"
REPORTED_FIRST_STEP_AUC = 0.97  # paper C on Stable Diffusion v1.4 (first step): the reference for the conclusion
OFFICIAL_FIRST_TIMESTEP = 981  # the official code's first read: DDIM 50 steps, `leading` spacing, offset 1
TRAINED, UNTRAINED = "trained", "untrained (control)"


def load_model(study: Study) -> tuple[TrainedModel, np.ndarray, ImageCaptionSet]:
    """The detection model, the images it trained on and its whole dataset (novel prompts come from the rest)."""
    trained, training_images = load_with_training_images(study.section.model)
    return trained, training_images, ImageCaptionSet.load(paths.dataset_dir(trained.record["dataset"]))


def title_of(caption: str) -> str | None:
    """A caption's title word, None when it has none."""
    return caption.split(TITLE_SEPARATOR)[1] if TITLE_SEPARATOR in caption else None


def random_prompts(rng: np.random.Generator, n: int, titles: list[str]) -> list[str]:
    """Random vocabulary words in the captions' form: ending with a title word when the captions carry one."""
    words = [random_token_caption(rng, 4) for _ in range(n)]
    if not titles:
        return words
    return [f"{w}{TITLE_SEPARATOR}{titles[rng.integers(len(titles))]}" for w in words]


def build_benchmark(study: Study, trained: TrainedModel, training_images: np.ndarray,
                    data: ImageCaptionSet) -> DetectionBenchmark:
    """Verify every MV and TV prompt and `n_prompts` unique training prompts (seeded), then draw `n_prompts` novel
    and random prompts. Where nothing is verified, the duplicated prompts stand in as positives (`verified`
    False)."""
    section, n_prompts = study.section, study.section.n_prompts
    rng = np.random.default_rng([study.params.seed, 23])
    candidates = duplicated_candidates(trained) + unique_candidates(trained, n_prompts, rng)
    checked = verify(trained, training_images, candidates, section.verify_generations, study.matcher,
                     study.threshold, study.params.seed, study.sampling)
    kinds = [c.kind for c in candidates]
    groups = [MEMORIZED if memorized else UNVERIFIED if kind != UNIQUE else CLEAN[0]
              for kind, memorized in zip(kinds, checked.memorized)]
    seen = set(trained.record["ids"])
    families = data.families if data.families is not None else np.full(len(data), -1)
    outside = [i for i, image_id in enumerate(data.ids) if image_id not in seen and families[i] < 0]
    novel = [data.captions[i][0] for i in rng.choice(outside, size=min(n_prompts, len(outside)), replace=False)]
    titles = sorted({t for t in map(title_of, trained.prompts) if t})
    randoms = random_prompts(rng, n_prompts, titles)
    bench = DetectionBenchmark(
        prompts=[c.prompt for c in candidates] + novel + randoms,
        groups=np.asarray(groups + [CLEAN[1]] * len(novel) + [CLEAN[2]] * len(randoms)),
        kinds=np.asarray(kinds + [CLEAN[1]] * len(novel) + [CLEAN[2]] * len(randoms)),
        replica_rate=np.r_[checked.replica_rate, np.full(len(novel) + len(randoms), np.nan)],
    )
    return bench if bench.memorized.any() else bench.unverified_as_memorized()


def detector_options(study: Study) -> dict:
    """The sampling arguments every detector shares."""
    return dict(steps=study.sampling.steps, seed=study.params.seed, batch_size=study.section.batch_size,
                progress=False)


@dataclass
class WenVariants:
    """Wen et al.'s magnitude over steps × generations: the recorded trajectories and the scores read from them."""

    trajectories: dict[int, MagnitudeTrajectory]  # by number of generations
    scores: list[DetectorScores]  # per number of generations: each of `first_steps` (then all steps, fewest
    # generations only), and the read at the official code's first timestep

    @property
    def fewest_generations(self) -> MagnitudeTrajectory:
        """The trajectory over every sampling step (recorded with the fewest generations)."""
        return self.trajectories[min(self.trajectories)]


def wen_variants(study: Study, model: TextToImage, bench: DetectionBenchmark) -> WenVariants:
    """One guided run per number of generations records the magnitude per step: over all steps with the fewest
    generations, up to the longest of `first_steps` with more. Each of `first_steps` (and all steps) is read from
    it, costed as if only those steps had run; plus one read at t = 981 where the schedule has it."""
    section, steps = study.section, study.sampling.steps
    early = min(max(section.first_steps), steps)
    fewest = min(section.generations)
    trajectories = {g: magnitude.magnitude_trajectory(model, bench.prompts, generations=g,
                                                      guidance=study.sampling.guidance,
                                                      until=None if g == fewest else early, **detector_options(study))
                    for g in section.generations}
    scores = []
    for g, trajectory in trajectories.items():
        reads = trajectory.magnitudes.shape[2]
        first = sorted(k for k in set(section.first_steps) if k <= reads)
        scores += [magnitude.wen_scores(trajectory, k) for k in first]
        if g == fewest and reads not in first:
            scores.append(magnitude.wen_scores(trajectory))
    if model.training_scheduler().config.num_train_timesteps > OFFICIAL_FIRST_TIMESTEP:
        common = {k: v for k, v in detector_options(study).items() if k != "steps"}
        scores.append(magnitude.magnitude_at_timestep(model, bench.prompts, OFFICIAL_FIRST_TIMESTEP, fewest,
                                                      **common))
    return WenVariants(trajectories, scores)


def peers(study: Study, model: TextToImage, bench: DetectionBenchmark) -> list[DetectorScores]:
    """The later detectors on the same prompts: the sampling-based ones with the most generations, the first-step
    ones with one. Carlini et al. read the bright-ending run's final images: the same seed and sampler draw the same
    images, so one sampling run serves both (each is charged that run's seconds)."""
    many, guidance, common = max(study.section.generations), study.sampling.guidance, detector_options(study)
    chen = bright_ending.bright_ending_scores(model, bench.prompts, generations=many, guidance=guidance,
                                              keep_images=True, **common)
    images = chen.details.pop("images")
    return [
        carlini.scores_from_generations(images, many, common["steps"], chen.seconds),
        attention_entropy.ren_entropy_scores(model, bench.prompts, generations=1, **common),
        chen,
        sharpness.sharpness_scores(model, bench.prompts, generations=1, **common),
        anisotropy.anisotropy_scores(model, bench.prompts, generations=1, **common),
    ]


def control(study: Study, bench: DetectionBenchmark) -> tuple[list[DetectorScores], DetectionBenchmark]:
    """Every detector on the detection model at step 0 (same architecture and seed, untrained), on a seeded
    `control_share` of each kind of prompt: what a detector reads from the prompts' form alone. It must score near
    chance (AUC 0.4–0.6). Returns the scores and the prompts they score."""
    model = untrained_model(study.params, study.section.model).to(pick_device())
    prompts = bench.subsample(study.section.control_share, study.params.seed)
    return wen_variants(study, model, prompts).scores + peers(study, model, prompts), prompts


def run_label(result: DetectorScores) -> str:
    """A detector run's name, e.g. "Wen et al. magnitude | 1 steps | 1 gen"."""
    return f"{result.method} | {result.steps} steps | {result.generations} gen"


def subset(result: DetectorScores, keep: np.ndarray) -> DetectorScores:
    """A detector's scores on some of the prompts, its cost scaled to match."""
    keep = np.asarray(keep, dtype=bool)
    return DetectorScores(result.method, result.scores[keep], result.steps, result.generations,
                          result.unet_evals_per_prompt, result.seconds * keep.sum() / len(keep))


def ranked(results: list[DetectorScores], bench: DetectionBenchmark, seed: int, model: str = TRAINED
           ) -> pd.DataFrame:
    """The leaderboard over memorized vs all clean prompts, best AUC first: AUC and TPR@1%FPR with 95% bootstrap
    intervals over prompts, TPR@3%FPR, the AUC against each clean group and between MV or TV prompts and all clean
    ones (deterministic columns only: the seconds are in `timing`)."""
    rows = []
    for result in results:
        positives, negatives = result.scores[bench.memorized], result.scores[bench.clean]
        auc = uncertainty.auc(positives, negatives, seed)
        tpr = uncertainty.tpr_at_1pct_fpr(positives, negatives, seed)
        row = {"model": model, "method": result.method, "steps": result.steps, "generations": result.generations,
               "auc": auc.value, "auc_low": auc.low, "auc_high": auc.high, "tpr@1%fpr": tpr.value,
               "tpr@1%fpr_low": tpr.low, "tpr@1%fpr_high": tpr.high,
               "tpr@3%fpr": detection_metrics(positives, negatives)["tpr@3%fpr"],
               "unet_evals_per_prompt": result.unet_evals_per_prompt}
        for group in CLEAN:
            mask = bench.groups == group
            row[f"auc_vs_{group.replace(' ', '_')}"] = (
                float(uncertainty.rank_auc(positives, result.scores[mask])) if mask.any() else np.nan)
        for kind, name in ((MV, "MV"), (TV, "TV")):
            mask = bench.memorized & (bench.kinds == kind)
            row[f"auc_{name}_vs_clean"] = float(uncertainty.rank_auc(result.scores[mask], negatives)) \
                if mask.any() else np.nan
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["auc", "tpr@1%fpr"], ascending=False, kind="stable").reset_index(
        drop=True)


def full_leaderboard(trained: pd.DataFrame, untrained: pd.DataFrame) -> pd.DataFrame:
    """The trained model's leaderboard, then the control rows (the same detectors on the untrained model)."""
    return pd.concat([trained, untrained], ignore_index=True)


def roc_table(results: list[DetectorScores], bench: DetectionBenchmark) -> pd.DataFrame:
    """Every run's ROC curve, memorized vs all clean prompts, in long format: detector (the run's label), method,
    steps, generations, fpr, tpr."""
    frames = []
    for result in results:
        roc = detection_metrics(result.scores[bench.memorized], result.scores[bench.clean])["roc"]
        frames.append(pd.DataFrame({"detector": run_label(result), "method": result.method, "steps": result.steps,
                                    "generations": result.generations, "fpr": roc["fpr"], "tpr": roc["tpr"]}))
    return pd.concat(frames, ignore_index=True)


def roc_figure(wen: WenVariants, peer_results: list[DetectorScores], bench: DetectionBenchmark):
    """ROC curves of the first-step Wen variant with one read, the all-steps one and every peer."""
    all_steps = [r for r in wen.scores if r.steps == wen.fewest_generations.steps and r.steps > 1]
    ax = roc_curves([subset(r, bench.scored) for r in [wen.scores[0], *all_steps, *peer_results]],
                    bench.memorized[bench.scored])
    ax.set_title("memorized vs all clean prompts")
    return ax.figure


def magnitude_curves(wen: WenVariants, bench: DetectionBenchmark) -> pd.DataFrame:
    """The mean magnitude per sampling step of each prompt group (the all-steps run): prompts, step, magnitude."""
    per_step = wen.fewest_generations.per_step
    return pd.DataFrame([(group, step + 1, float(value)) for group, mask in bench.group_masks().items()
                         for step, value in enumerate(per_step[mask].mean(axis=0))],
                        columns=["prompts", "step", "magnitude"])


def magnitude_figure(wen: WenVariants, bench: DetectionBenchmark):
    """Mean magnitude per sampling step of each prompt group, with 95% intervals."""
    ax = magnitude_per_step(wen.fewest_generations, bench.group_masks())
    ax.set_title("Conditional-noise magnitude along the sampling path")
    return ax.figure


def title_positions(model: TextToImage, significance: explain.TokenSignificance) -> list[int]:
    """Token positions of the prompt's title word (after the title separator), empty when it has none."""
    title = title_of(significance.prompt)
    if title is None:
        return []
    n = len(model.tokenizer(title, add_special_tokens=False).input_ids)
    end = len(significance.token_ids) - 1  # the end token
    return list(range(end - n, end))


def token_edits(study: Study, trained: TrainedModel, training_images: np.ndarray, bench: DetectionBenchmark
                ) -> pd.DataFrame:
    """Paper C's explanation checked by editing, on every memorized MV prompt: the per-token significance, whether
    the most significant token is part of the title word (and the chance of that: the title's share of the
    prompt's word tokens), the prompt with that token dropped, and the first-step magnitude and replica rate
    before and after. One row per prompt; the significances (for the bar charts) are in
    `frame.attrs["significance"]`."""
    model, common = trained.model, detector_options(study)
    generations = max(study.section.generations)
    chosen = np.flatnonzero(bench.memorized & (bench.kinds == MV))
    original = [bench.prompts[i] for i in chosen]
    if not original:
        return pd.DataFrame(columns=["original", "edited", "top_token", "top_is_title", "title_share",
                                     "magnitude_before", "magnitude_after", "replica_rate_before",
                                     "replica_rate_after"])
    significance = explain.token_significance(model, original, generations=generations, **common)
    edited = [explain.edit_prompt(model.tokenizer, s, k=1, mode="drop") for s in significance]
    titles = [title_positions(model, s) for s in significance]
    images = [(trained.prompts.index(prompt),) for prompt in original]
    before = magnitude.wen_magnitude(model, original, generations=generations, **common).scores
    after = magnitude.wen_magnitude(model, edited, generations=generations, **common).scores
    rates = [replica_rates(trained, training_images, prompts, images, study.section.verify_generations,
                           study.matcher, study.threshold, study.params.seed, study.sampling)
             for prompts in (original, edited)]
    frame = pd.DataFrame({
        "original": original, "edited": edited, "top_token": [s.tokens[s.top(1)[0]] for s in significance],
        "top_is_title": [s.top(1)[0] in t for s, t in zip(significance, titles)],
        "title_share": [len(t) / max(1, len(s.token_ids) - 2) for s, t in zip(significance, titles)],
        "magnitude_before": before, "magnitude_after": after,
        "replica_rate_before": rates[0], "replica_rate_after": rates[1],
    })
    frame.attrs["significance"] = significance
    return frame


def significance_figure(edits: pd.DataFrame, n: int):
    """Token-significance bar charts of the n explained prompts with the largest first-step magnitude."""
    significance = sorted(edits.attrs.get("significance", []), key=lambda s: -s.magnitude)[:n]
    fig, axes = plt.subplots(max(1, len(significance)), 1, figsize=(8, 2.8 * max(1, len(significance))),
                             squeeze=False)
    for ax, result in zip(axes[:, 0], significance):
        token_significance_bars(result, ax=ax)
    fig.tight_layout()
    return fig


def _wen_row(board: pd.DataFrame, method: str = magnitude.METHOD, steps: int = 1, model: str = TRAINED):
    rows = board[(board["model"] == model) & (board["method"] == method) & (board["generations"] == 1)
                 & (board["steps"] == steps)]
    return rows.iloc[0] if len(rows) else None


def headline_metrics(board: pd.DataFrame, bench: DetectionBenchmark, edits: pd.DataFrame, seed: int, scale: str
                     ) -> dict:
    """The flat metrics (names fixed across experiments): the benchmark's labels, Wen et al.'s first-step AUC and
    TPR@1%FPR with one generation (the row paper C's table leads with) with intervals, on the trained model and
    on the untrained control, the read at t = 981, the best peer, the control's range, and the token edits."""
    design = bench.design().set_index("kind")

    def count(kind: str) -> int:
        return int(design.loc[kind, "memorized"]) if kind in design.index and bench.verified else 0

    def rate(kind: str):
        return design.loc[kind, "replica_rate"] if kind in design.index else None

    first, control_first = _wen_row(board), _wen_row(board, model=UNTRAINED)
    official = _wen_row(board, f"{magnitude.METHOD} at t={OFFICIAL_FIRST_TIMESTEP}")
    trained_rows, control_rows = board[board["model"] == TRAINED], board[board["model"] == UNTRAINED]
    others = trained_rows[~trained_rows["method"].str.startswith(magnitude.METHOD)]
    out = {"scale": scale, "labels_verified": bench.verified,
           "memorized_prompts": int(bench.memorized.sum()) if bench.verified else 0,
           "memorized_mv": count(MV), "memorized_tv": count(TV), "memorized_unique": count(UNIQUE),
           "unverified_duplicated_prompts": int((bench.groups == UNVERIFIED).sum()),
           "clean_prompts": int(bench.clean.sum()),
           "replica_rate_mv": rate(MV), "replica_rate_tv": rate(TV), "replica_rate_unique": rate(UNIQUE)}
    for key, column in (("auc", "auc"), ("tpr_at_1pct_fpr", "tpr@1%fpr")):
        out[f"wen_first_step_n1_{key}"] = None if first is None else first[column]
        out[f"wen_first_step_n1_{key}_ci95"] = [None, None] if first is None else [first[f"{column}_low"],
                                                                                   first[f"{column}_high"]]
    for group in CLEAN:
        column = f"auc_vs_{group.replace(' ', '_')}"
        out[f"wen_first_step_n1_{column}"] = None if first is None else first[column]
    out["wen_first_step_n1_auc_untrained"] = None if control_first is None else control_first["auc"]
    out["wen_t981_n1_auc"] = None if official is None else official["auc"]
    out["untrained_auc_min"] = control_rows["auc"].min() if len(control_rows) else None
    out["untrained_auc_max"] = control_rows["auc"].max() if len(control_rows) else None
    out["best_peer"] = others["method"].iloc[0] if len(others) else None
    out["best_peer_auc"] = others["auc"].iloc[0] if len(others) else None
    out["best_peer_auc_ci95"] = [others["auc_low"].iloc[0], others["auc_high"].iloc[0]] if len(others) else [
        None, None]
    out["token_edit_prompts"] = len(edits)
    out["top_token_is_trigger_fraction"] = float(edits["top_is_title"].mean()) if len(edits) else None
    out["top_token_is_trigger_chance"] = float(edits["title_share"].mean()) if len(edits) else None
    for name in ("magnitude", "replica_rate"):
        change = uncertainty.paired_difference(edits[f"{name}_after"], edits[f"{name}_before"], seed)
        out[f"token_edit_{name}_before"] = float(edits[f"{name}_before"].mean()) if len(edits) else None
        out[f"token_edit_{name}_after"] = float(edits[f"{name}_after"].mean()) if len(edits) else None
        out[f"token_edit_{name}_change_ci95"] = change.ci95
    out["seeds"] = 1
    if first is not None:
        above_chance = uncertainty.Estimate(first["auc"] - 0.5, first["auc_low"] - 0.5, first["auc_high"] - 0.5,
                                            int(bench.scored.sum()))
        record(out, "wen_first_step", above_chance)
    if len(edits):
        record(out, "token_edit", uncertainty.paired_difference(edits["replica_rate_after"],
                                                                edits["replica_rate_before"], seed), direction=-1)
    out["summary"] = summary(out)
    return headline(out)


def describe(key: str) -> str:
    """A finding key of this study in words."""
    return {"wen_first_step": "Wen et al.'s first-step magnitude (one generation) detects memorized prompts: "
                              "AUC − 0.5",
            "token_edit": "dropping the most significant token lowers a memorized prompt's replica rate"}[key]


def timing(results: list[DetectorScores], bench: DetectionBenchmark) -> dict:
    """Wall-clock seconds per scored prompt of every detector run (on the trained model)."""
    return {"seconds_per_prompt": {run_label(r): subset(r, bench.scored).seconds_per_prompt for r in results}}


def caption(metrics: dict) -> str:
    """One line under the key figure."""
    return (f"ROC curves, memorized vs all clean prompts: Wen et al.'s first-step magnitude AUC "
            f"{num(metrics['wen_first_step_n1_auc'])} {interval(metrics['wen_first_step_n1_auc_ci95'])}, best peer "
            f"({metrics['best_peer']}) {num(metrics['best_peer_auc'])}; untrained control "
            f"{num(metrics['wen_first_step_n1_auc_untrained'])}.")


def _near_chance(low, high) -> bool:
    return not missing(low) and not missing(high) and 0.4 <= low and high <= 0.6


def conclusion(metrics: dict) -> str:
    """What holds at this scale, in Markdown, every number from `metrics`."""
    memorized = metrics["memorized_prompts"]
    labels = (f"- **Benchmark.** {memorized} prompts are verified memorized ({metrics['memorized_mv']} matching "
              f"verbatim, {metrics['memorized_tv']} template verbatim, {metrics['memorized_unique']} unique), against "
              f"{metrics['clean_prompts']} clean prompts; {metrics['unverified_duplicated_prompts']} duplicated "
              f"prompts are not verified and left out. Replica rates: MV {pct(metrics['replica_rate_mv'])}, TV "
              f"{pct(metrics['replica_rate_tv'])}, unique training prompts {pct(metrics['replica_rate_unique'])}."
              if metrics["labels_verified"] else
              "- **Benchmark.** No prompt was verified memorized: the positives are all duplicated prompts, so the "
              "leaderboard measures detection of duplication, not of memorization.")
    low, high = metrics["untrained_auc_min"], metrics["untrained_auc_max"]
    verdict = ("near chance, so what the detectors read below comes from training" if _near_chance(low, high) else
               "NOT all near chance (0.4–0.6): part of what the detectors read is the prompts' form, not memorization")
    control = f"- **Control.** On the untrained model every detector's AUC lies in {interval([low, high])}: {verdict}."
    first = metrics["wen_first_step_n1_auc"]
    strong = not missing(first) and first >= REPORTED_FIRST_STEP_AUC
    wen = (f"- **Wen et al., first step.** With one generation the magnitude separates memorized from clean prompts "
           f"with AUC {num(first)} {interval(metrics['wen_first_step_n1_auc_ci95'])} (TPR@1%FPR "
           f"{num(metrics['wen_first_step_n1_tpr_at_1pct_fpr'], 2)} "
           f"{interval(metrics['wen_first_step_n1_tpr_at_1pct_fpr_ci95'], lambda v: num(v, 2))}): "
           f"{'as strong as' if strong else 'short of'} the {num(REPORTED_FIRST_STEP_AUC, 2)} paper C reports on "
           f"Stable Diffusion. Against each clean group: unique training "
           f"{num(metrics['wen_first_step_n1_auc_vs_unique_training'])}, novel "
           f"{num(metrics['wen_first_step_n1_auc_vs_novel'])}, random tokens "
           f"{num(metrics['wen_first_step_n1_auc_vs_random_tokens'])}; read at the official code's t = 981 "
           f"{num(metrics['wen_t981_n1_auc'])} (the study reads copyscope's t = 999).")
    best_peer, peer_auc = metrics["best_peer"], metrics["best_peer_auc"]
    beaten = not missing(peer_auc) and not missing(first) and peer_auc > first
    peer = (f"- **Peers.** The best later detector is {best_peer} (AUC {num(peer_auc)} "
            f"{interval(metrics['best_peer_auc_ci95'])}), {'above' if beaten else 'not above'} the first-step "
            f"magnitude.")
    change = metrics["token_edit_replica_rate_change_ci95"]
    breaks = not missing(change[1]) and change[1] < 0
    edit = (f"- **Token attribution** ({metrics['token_edit_prompts']} MV prompts). The most significant token is "
            f"part of the title word for {pct(metrics['top_token_is_trigger_fraction'])} of them (chance "
            f"{pct(metrics['top_token_is_trigger_chance'])}). Dropping it "
            f"{'lowers' if breaks else 'is NOT shown to lower'} the copying: replica rate "
            f"{pct(metrics['token_edit_replica_rate_before'])} → {pct(metrics['token_edit_replica_rate_after'])} "
            f"(change {interval(change, signed)}), first-step magnitude "
            f"{num(metrics['token_edit_magnitude_before'])} → {num(metrics['token_edit_magnitude_after'])} (change "
            f"{interval(metrics['token_edit_magnitude_change_ci95'], signed)}).")
    return "\n".join([labels, control, wen, peer, edit])
