"""Figures shared by the studies: similarity histograms and galleries of generation / training-match pairs."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from copyscope.atomic import atomic_file


def similarity_histogram(groups: dict[str, np.ndarray], threshold: float | None = None, ax=None,
                         title: str | None = None, xlabel: str = "top-1 similarity to the training set"):
    """Overlaid density histograms of similarity scores, one per named group, with the replica threshold."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    frame = pd.DataFrame([(name, float(s)) for name, scores in groups.items() for s in np.ravel(scores)],
                         columns=["set", "similarity"])
    sns.histplot(frame, x="similarity", hue="set", stat="density", common_norm=False, element="step",
                 bins=np.linspace(min(frame.similarity.min(), 0), 1, 41), ax=ax)
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
        ax.text(threshold, ax.get_ylim()[1] * 0.95, " threshold", va="top", fontsize=8)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return ax


def pair_gallery(queries: np.ndarray, matches: np.ndarray, scores: np.ndarray, n: int,
                 labels: tuple[str, str] = ("generation", "nearest training image"), title: str | None = None):
    """The n highest-scoring pairs, query above match, each titled with its similarity."""
    order = np.argsort(-scores)[:n]
    fig, axes = plt.subplots(2, len(order), figsize=(1.3 * len(order) + 0.8, 3), squeeze=False)
    for col, i in enumerate(order):
        for row, image in enumerate((queries[i], matches[i])):
            axes[row, col].imshow(image, interpolation="nearest")
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
        axes[0, col].set_title(f"{scores[i]:.3f}", fontsize=8)
    axes[0, 0].set_ylabel(labels[0], fontsize=8)
    axes[1, 0].set_ylabel(labels[1], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | Path) -> None:
    """Write a PNG atomically (DVC records it as a plot)."""
    with atomic_file(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110, bbox_inches="tight")


def histogram_grid(panels: dict[str, dict[str, np.ndarray]], threshold: float | None = None, columns: int = 4):
    """One similarity histogram per panel (e.g. per training-set size), sharing the x axis."""
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, min(columns, len(panels)), figsize=(3.6 * min(columns, len(panels)), 2.8 * rows),
                             squeeze=False, sharex=True)
    for ax, (title, groups) in zip(axes.flat, panels.items()):
        similarity_histogram(groups, threshold, ax=ax, title=title, xlabel="top-1 similarity")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def metric_curve(table: pd.DataFrame, x: str, ys: dict[str, str], hue: str | None = None, logx: bool = True,
                 title: str | None = None):
    """Line plots of several metric columns against `x`, one panel per metric, one line per `hue` value."""
    fig, axes = plt.subplots(1, len(ys), figsize=(4 * len(ys), 3.2), squeeze=False)
    for ax, (column, label) in zip(axes[0], ys.items()):
        sns.lineplot(table, x=x, y=column, hue=hue, marker="o", ax=ax)
        if logx:
            ax.set_xscale("log")
        ax.set_ylabel(label)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
