"""Paper C's detection benchmark on Stable Diffusion (the `sd` scale): the field's memorized-prompt sets against
clean prompts, every detector of the embedded study on the same prompts, a control on the same pipeline with its
UNet untrained, and the leaderboard laid out like Jeon et al. 2025's table (AUC and TPR@1%FPR with n = 1 and 4
generations) beside the numbers published there.

Labels are the prompt files' (Webster's MV/TV/RV/N, NeMo's VM/TM, sets that are all memorized, clean files), so the
benchmark is what the field uses, and reported per kind. Every AUC and TPR@1%FPR carries a 95% bootstrap interval
over prompts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from copyscope.detection import (anisotropy, attention_entropy, bright_ending, carlini, explain, magnitude,
                                 sharpness)
from copyscope.detection.common import DetectorScores
from copyscope.metrics import uncertainty
from copyscope.models.text_to_image import TextToImage
from copyscope.report import headline
from copyscope.studies import detection
from copyscope.studies.detection import TRAINED, UNTRAINED, WenVariants
from copyscope.studies.prompt_benchmark import DetectionBenchmark
from copyscope.studies.prose import interval, num
from copyscope.studies.sd_session import SDStudy
from copyscope.studies.verdicts import record, summary

# Jeon et al. 2025's re-run on SD v1.4 (AUC, TPR@1%FPR), by method and sampling steps read, for n = 1 and n = 4
# generations per prompt; None where the paper has no entry
PUBLISHED = pd.DataFrame([
    (carlini.METHOD, 50, None, None, 0.908, 0.088),
    (attention_entropy.METHOD, 1, 0.846, 0.116, 0.839, 0.130),
    (bright_ending.METHOD, 50, 0.986, 0.950, 0.997, 0.980),
    (magnitude.METHOD, 1, 0.976, 0.896, 0.992, 0.944),
    (magnitude.METHOD, 50, 0.983, 0.948, 0.996, 0.982),
    (sharpness.METHOD, 1, 0.987, 0.908, 0.998, 0.982),
    (anisotropy.METHOD, 1, 0.994, 0.935, 0.999, 0.984),
], columns=["method", "steps", "auc_n1", "tpr@1%fpr_n1", "auc_n4", "tpr@1%fpr_n4"])
EMBEDDED_COLUMNS = ("auc_vs_unique_training", "auc_vs_novel", "auc_vs_random_tokens", "auc_MV_vs_clean",
                    "auc_TV_vs_clean")  # the embedded benchmark's groups, absent here


def untrained(model: TextToImage, seed: int) -> TextToImage:
    """The same pipeline with its UNet re-initialised (seeded): the control, reading only the prompts' form."""
    torch.manual_seed(seed)
    unet = type(model.unet).from_config(model.unet.config).to(model.device, model.unet.dtype)
    return TextToImage(unet=unet, text_encoder=model.text_encoder, tokenizer=model.tokenizer,
                       scheduler_config=model.scheduler_config, vae=model.vae)


def control(study: SDStudy, model: TextToImage, bench: DetectionBenchmark
            ) -> tuple[list[DetectorScores], DetectionBenchmark]:
    """Every detector on the untrained pipeline, on a seeded `control_share` of each kind of prompt."""
    prompts = bench.subsample(study.section.control_share, study.params.seed)
    blank = untrained(model, study.params.seed)
    return (detection.wen_variants(study, blank, prompts).scores + detection.peers(study, blank, prompts),
            prompts)


def memorized_kinds(bench: DetectionBenchmark) -> list[str]:
    """The memorized kinds present (e.g. MV, TV, RV), in order of first appearance."""
    return list(pd.unique(bench.kinds[bench.memorized]))


def leaderboard(results: list[DetectorScores], bench: DetectionBenchmark, seed: int, model: str = TRAINED
                ) -> pd.DataFrame:
    """The embedded study's leaderboard over memorized vs clean prompts, with the AUC of each memorized kind
    against all clean prompts in place of the embedded benchmark's groups."""
    board = detection.ranked(results, bench, seed, model).drop(columns=list(EMBEDDED_COLUMNS))
    by_run = {(r.method, r.steps, r.generations): r.scores for r in results}
    rows = [by_run[run] for run in zip(board["method"], board["steps"], board["generations"])]
    for kind in memorized_kinds(bench):
        mask = bench.memorized & (bench.kinds == kind)
        board[f"auc_{kind}_vs_clean"] = [float(uncertainty.rank_auc(s[mask], s[bench.clean])) for s in rows]
    return board


def jeon_table(board: pd.DataFrame) -> pd.DataFrame:
    """The trained pipeline's rows as Jeon et al.'s table: one row per method and steps read, AUC and TPR@1%FPR
    with n = 1 and n = 4 generations (NaN where that run is not part of the study), beside the published ones."""
    rows = board[board["model"] == TRAINED]
    out = []
    for (method, steps), runs in rows.groupby(["method", "steps"], sort=False):
        row = {"method": method, "steps": int(steps)}
        for n in (1, 4):
            run = runs[runs["generations"] == n]
            row[f"auc_n{n}"] = run["auc"].iloc[0] if len(run) else np.nan
            row[f"tpr@1%fpr_n{n}"] = run["tpr@1%fpr"].iloc[0] if len(run) else np.nan
        out.append(row)
    ours = pd.DataFrame(out)
    published = PUBLISHED.rename(columns={c: f"published_{c}" for c in PUBLISHED.columns[2:]})
    return ours.merge(published, on=["method", "steps"], how="left")


def explanations(study: SDStudy, model: TextToImage, bench: DetectionBenchmark, wen: WenVariants) -> pd.DataFrame:
    """Paper C's token significance for the `explain` memorized prompts with the largest first-step magnitude: the
    prompt, its kind and its most significant token (bar charts in `frame.attrs["significance"]`)."""
    first = np.where(bench.memorized, wen.scores[0].scores, -np.inf)
    chosen = np.argsort(-first, kind="stable")[:min(study.section.explain, int(bench.memorized.sum()))]
    prompts = [bench.prompts[i] for i in chosen]
    significance = explain.token_significance(model, prompts, generations=max(study.section.generations),
                                              **detection.detector_options(study))
    frame = pd.DataFrame({"prompt": prompts, "kind": bench.kinds[chosen],
                          "top_token": [s.tokens[s.top(1)[0]] for s in significance],
                          "magnitude": [s.magnitude for s in significance]})
    frame.attrs["significance"] = significance
    return frame


def _row(board: pd.DataFrame, generations: int, model: str = TRAINED):
    rows = board[(board["model"] == model) & (board["method"] == magnitude.METHOD) & (board["steps"] == 1)
                 & (board["generations"] == generations)]
    return rows.iloc[0] if len(rows) else None


def headline_metrics(board: pd.DataFrame, bench: DetectionBenchmark, study: SDStudy) -> dict:
    """The flat metrics: the benchmark's make-up, Wen et al.'s first-step AUC and TPR@1%FPR with n = 1 and the
    most generations (intervals), per memorized kind, the control's range and the best peer."""
    spec = study.spec
    out = {"scale": study.params.scale, "pipeline": spec.pipeline, "extractor": spec.extractor,
           "memorized_prompts": int(bench.memorized.sum()), "clean_prompts": int(bench.clean.sum())}
    for kind in memorized_kinds(bench):
        out[f"memorized_{kind}"] = int((bench.memorized & (bench.kinds == kind)).sum())
    many = max(study.section.generations)
    for n in sorted({1, many}):
        row = _row(board, n)
        for key, column in (("auc", "auc"), ("tpr_at_1pct_fpr", "tpr@1%fpr")):
            out[f"wen_first_step_n{n}_{key}"] = None if row is None else row[column]
            out[f"wen_first_step_n{n}_{key}_ci95"] = [None, None] if row is None else [row[f"{column}_low"],
                                                                                       row[f"{column}_high"]]
    first = _row(board, 1)
    for kind in memorized_kinds(bench):
        out[f"wen_first_step_n1_auc_{kind}"] = None if first is None else first[f"auc_{kind}_vs_clean"]
    control = _row(board, 1, UNTRAINED)
    out["wen_first_step_n1_auc_untrained"] = None if control is None else control["auc"]
    trained_rows, control_rows = board[board["model"] == TRAINED], board[board["model"] == UNTRAINED]
    out["untrained_auc_min"] = control_rows["auc"].min() if len(control_rows) else None
    out["untrained_auc_max"] = control_rows["auc"].max() if len(control_rows) else None
    others = trained_rows[~trained_rows["method"].str.startswith(magnitude.METHOD)]
    out["best_peer"] = others["method"].iloc[0] if len(others) else None
    out["best_peer_auc"] = others["auc"].iloc[0] if len(others) else None
    out["best_peer_auc_ci95"] = [others["auc_low"].iloc[0], others["auc_high"].iloc[0]] if len(others) else [
        None, None]
    out["seeds"] = 1
    if first is not None:
        record(out, "wen_first_step", uncertainty.Estimate(first["auc"] - 0.5, first["auc_low"] - 0.5,
                                                           first["auc_high"] - 0.5, int(bench.scored.sum())))
    out["summary"] = summary(out)
    return headline(out)


def conclusion(metrics: dict) -> str:
    """What this run shows, in Markdown, every number from `metrics` (the published ones from `PUBLISHED`)."""
    kinds = [key.removeprefix("memorized_") for key in metrics
             if key.startswith("memorized_") and key != "memorized_prompts"]
    published = PUBLISHED[(PUBLISHED["method"] == magnitude.METHOD) & (PUBLISHED["steps"] == 1)].iloc[0]
    low, high = metrics["untrained_auc_min"], metrics["untrained_auc_max"]
    lines = [
        f"- **Benchmark.** {metrics['memorized_prompts']} memorized prompts ("
        + ", ".join(f"{kind} {metrics[f'memorized_{kind}']}" for kind in kinds)
        + f") against {metrics['clean_prompts']} clean prompts, labelled by their files, on {metrics['pipeline']}.",
        f"- **Wen et al., first step, one generation.** AUC {num(metrics['wen_first_step_n1_auc'])} "
        f"{interval(metrics['wen_first_step_n1_auc_ci95'])}, TPR@1%FPR "
        f"{num(metrics['wen_first_step_n1_tpr_at_1pct_fpr'], 2)} "
        f"{interval(metrics['wen_first_step_n1_tpr_at_1pct_fpr_ci95'], lambda v: num(v, 2))}; Jeon et al. "
        f"published {num(published['auc_n1'])} / {num(published['tpr@1%fpr_n1'], 2)} on SD v1.4. Per kind: "
        + ", ".join(f"{kind} {num(metrics[f'wen_first_step_n1_auc_{kind}'])}" for kind in kinds) + ".",
        f"- **Control.** On the pipeline with its UNet untrained every detector's AUC lies in "
        f"{interval([low, high])}.",
        f"- **Peers.** The best other detector is {metrics['best_peer']} (AUC {num(metrics['best_peer_auc'])} "
        f"{interval(metrics['best_peer_auc_ci95'])}).",
    ]
    return "\n".join(lines)
