"""How well a detector separates memorized from clean prompts: AUC, TPR at a fixed FPR, and a leaderboard.

TPR@α convention: a prompt is flagged when its score is strictly above a threshold τ, and τ is the lowest threshold
whose false-positive rate does not exceed α: with m = floor(α · negatives), τ is the (m + 1)-th highest clean score.
Ties are never split (equal scores get the same decision), so the FPR actually reached may be below α, and the TPR is
the fraction of memorized scores strictly above τ. This is the best operating point of the ROC curve with FPR ≤ α;
the official scripts instead take the ROC point whose FPR is closest to α, which can exceed α.
AUC is scikit-learn's `roc_auc_score`: a tie between a memorized and a clean prompt counts one half.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from copyscope.detection.common import DetectorScores

FPRS = (0.01, 0.03)


def _scores(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of scores, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite scores")
    return values


def threshold_at_fpr(scores_clean, fpr: float) -> float:
    """τ: the lowest threshold such that at most a fraction `fpr` of clean scores lie strictly above it."""
    clean = _scores(scores_clean, "scores_clean")
    if not 0 <= fpr < 1:
        raise ValueError(f"fpr must lie in [0, 1), got {fpr}")
    allowed = math.floor(fpr * len(clean) + 1e-9)  # tolerate 0.29 * 100 = 28.999...
    return float(np.sort(clean)[::-1][allowed])


def tpr_at_fpr(scores_memorized, scores_clean, fpr: float) -> float:
    """Fraction of memorized scores strictly above `threshold_at_fpr(scores_clean, fpr)`."""
    memorized = _scores(scores_memorized, "scores_memorized")
    return float((memorized > threshold_at_fpr(scores_clean, fpr)).mean())


def detection_metrics(scores_memorized, scores_clean, fprs: Sequence[float] = FPRS) -> dict:
    """AUC, TPR at each FPR (keys like 'tpr@1%fpr') with its threshold, and the ROC curve's points."""
    memorized, clean = _scores(scores_memorized, "scores_memorized"), _scores(scores_clean, "scores_clean")
    labels = np.r_[np.ones(len(memorized)), np.zeros(len(clean))]
    scores = np.r_[memorized, clean]
    roc_fpr, roc_tpr, roc_thresholds = roc_curve(labels, scores, drop_intermediate=False)
    metrics = {"auc": float(roc_auc_score(labels, scores)), "n_memorized": len(memorized), "n_clean": len(clean),
               "roc": {"fpr": roc_fpr, "tpr": roc_tpr, "thresholds": roc_thresholds}}
    for fpr in fprs:
        key = f"{100 * fpr:g}%fpr"
        metrics[f"tpr@{key}"] = tpr_at_fpr(memorized, clean, fpr)
        metrics[f"threshold@{key}"] = threshold_at_fpr(clean, fpr)
    return metrics


def leaderboard(results: Sequence[DetectorScores], memorized) -> pd.DataFrame:
    """One row per detector run over the same prompts (`memorized` marks which are memorized), best AUC first."""
    memorized = np.asarray(memorized, dtype=bool)
    if memorized.all() or not memorized.any():
        raise ValueError("the leaderboard needs both memorized and clean prompts")
    rows = []
    for result in results:
        if len(result.scores) != len(memorized):
            raise ValueError(f"{result.method} scored {len(result.scores)} prompts, but {len(memorized)} are labelled")
        metrics = detection_metrics(result.scores[memorized], result.scores[~memorized])
        rows.append({"method": result.method, "steps": result.steps, "generations": result.generations,
                     "auc": metrics["auc"], "tpr@1%fpr": metrics["tpr@1%fpr"], "tpr@3%fpr": metrics["tpr@3%fpr"],
                     "unet_evals_per_prompt": result.unet_evals_per_prompt,
                     "seconds_per_prompt": result.seconds_per_prompt})
    columns = ["method", "steps", "generations", "auc", "tpr@1%fpr", "tpr@3%fpr", "unet_evals_per_prompt",
               "seconds_per_prompt"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["auc", "tpr@1%fpr"], ascending=False, kind="stable").reset_index(drop=True)
