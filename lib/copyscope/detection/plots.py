"""Figures for the detection study: token significance bars, magnitude per sampling step, ROC curves."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from copyscope.detection.common import DetectorScores
from copyscope.detection.explain import TokenSignificance
from copyscope.detection.magnitude import MagnitudeTrajectory
from copyscope.detection.metrics import detection_metrics


def token_significance_bars(result: TokenSignificance, ax=None, special_tokens: bool = False):
    """One bar per token of the prompt (the beginning and end tokens only if `special_tokens`)."""
    ax = ax or plt.subplots(figsize=(max(3.0, 0.5 * len(result.tokens)), 2.8))[1]
    keep = slice(None) if special_tokens else slice(1, -1)
    frame = pd.DataFrame({"token": [f"{i}:{t}" for i, t in enumerate(result.tokens)][keep],
                          "significance": result.significance[keep]})
    sns.barplot(frame, x="token", y="significance", color="tab:red", ax=ax)
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=60)
    ax.set_title(f"{result.prompt}  (magnitude {result.magnitude:.3g})", fontsize=9)
    return ax


def magnitude_per_step(trajectory: MagnitudeTrajectory, groups: dict[str, np.ndarray], ax=None):
    """Mean ‖ε_c − ε_u‖ per sampling step for named groups of prompts (boolean masks), with 95% intervals."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    curves = trajectory.per_step
    frame = pd.DataFrame([(name, step + 1, float(value)) for name, mask in groups.items()
                          for row in curves[np.asarray(mask, dtype=bool)] for step, value in enumerate(row)],
                         columns=["prompts", "step", "magnitude"])
    sns.lineplot(frame, x="step", y="magnitude", hue="prompts", errorbar=("ci", 95), ax=ax)
    ax.set_xlabel(f"sampling step (of {trajectory.steps})")
    ax.set_ylabel("‖ε(x_t, prompt) − ε(x_t, ∅)‖₂")
    return ax


def roc_curves(results: Sequence[DetectorScores], memorized, ax=None):
    """ROC curve of each detector on the same labelled prompts, AUC in the legend."""
    ax = ax or plt.subplots(figsize=(4.5, 4.5))[1]
    memorized = np.asarray(memorized, dtype=bool)
    for result in results:
        metrics = detection_metrics(result.scores[memorized], result.scores[~memorized])
        ax.plot(metrics["roc"]["fpr"], metrics["roc"]["tpr"], drawstyle="steps-post",
                label=f"{result.method} ({result.steps} steps, n={result.generations}): {metrics['auc']:.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.legend(fontsize=7, title="AUC", title_fontsize=8)
    return ax
