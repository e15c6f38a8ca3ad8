"""Figures shared by the studies: similarity histograms, galleries of generation / training-match pairs, metric
curves, grouped bars, trade-off plots and precision-recall curves."""
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


def pair_gallery(panels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], n: int,
                 labels: tuple[str, str] = ("generation", "nearest training image")):
    """For each named panel (queries, their matches, scores): its n highest-scoring pairs, query above match,
    each titled with its similarity; panels stacked, two rows each."""
    columns = max(min(n, len(scores)) for _, _, scores in panels.values())
    fig, axes = plt.subplots(2 * len(panels), columns, figsize=(1.1 * columns + 1.6, 2.5 * len(panels)),
                             squeeze=False)
    for p, (title, (queries, matches, scores)) in enumerate(panels.items()):
        order = np.argsort(-np.asarray(scores), kind="stable")[:n]
        for col in range(columns):
            for row, images in enumerate((queries, matches)):
                ax = axes[2 * p + row, col]
                ax.set_xticks([])
                ax.set_yticks([])
                if col < len(order):
                    ax.imshow(images[order[col]], interpolation="nearest")
                else:
                    ax.set_axis_off()
            if col < len(order):
                axes[2 * p, col].set_title(f"{scores[order[col]]:.3f}", fontsize=7)
        axes[2 * p, 0].set_ylabel(f"{title}\n{labels[0]}", fontsize=7)
        axes[2 * p + 1, 0].set_ylabel(labels[1], fontsize=7)
    fig.tight_layout()
    return fig


def grouped_bars(table: pd.DataFrame, group: str, metrics: dict[str, str], title: str | None = None):
    """One bar group per `group` value of `table`, one bar per metric column (renamed by `metrics`); where a group
    has several rows (training seeds), the bar is their mean with a 95% interval and each row is a point."""
    frame = table.melt(id_vars=[group], value_vars=list(metrics), var_name="metric", value_name="value")
    frame["metric"] = frame["metric"].map(metrics)
    fig, ax = plt.subplots(figsize=(1.2 * table[group].nunique() + 3, 3.8))
    sns.barplot(frame, x=group, y="value", hue="metric", ax=ax)
    sns.stripplot(frame, x=group, y="value", hue="metric", dodge=True, legend=False, palette="dark:k", size=3,
                  ax=ax)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1), fontsize=7, title_fontsize=7)  # beside, not over, bars
    ax.tick_params(axis="x", rotation=30)
    ax.set_xlabel("")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def interval_points(table: pd.DataFrame, x: str, y: str, hue: str, ylabel: str, title: str | None = None):
    """One point per row at (`x`, `y`) with its 95% interval (columns `low`, `high`), one colour per `hue` value,
    dodged so that intervals at the same `x` do not overlap."""
    levels, hues = sorted(table[x].unique()), list(dict.fromkeys(table[hue]))
    fig, ax = plt.subplots(figsize=(1.4 * len(levels) + 3, 3.4))
    for j, (name, part) in enumerate(table.groupby(hue, sort=False)):
        position = np.array([levels.index(v) for v in part[x]]) + (j - (len(hues) - 1) / 2) * 0.15
        ax.errorbar(position, part[y], yerr=[part[y] - part["low"], part["high"] - part[y]], fmt="o", capsize=3,
                    label=str(name))
    ax.set_xticks(range(len(levels)), [str(v) for v in levels])
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, title=hue.replace("_", " "))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def tradeoff(table: pd.DataFrame, x: str, y: str, method: str, baseline: pd.Series, xlabel: str, ylabel: str):
    """y against x for every row, rows of the same method joined in table order (a strength sweep), the
    baseline starred."""
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    sns.lineplot(table, x=x, y=y, hue=method, style=method, markers=True, dashes=False, sort=False, ax=ax)
    ax.scatter([baseline[x]], [baseline[y]], marker="*", s=250, color="black", zorder=5, label="baseline")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def precision_recall(curves: pd.DataFrame, precision: float | None = None, title: str | None = None):
    """Precision against recall, one step line per `extractor` of a long table, the target precision dashed."""
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(curves, x="recall", y="precision", hue="extractor", drawstyle="steps-post", ax=ax)
    if precision is not None:
        ax.axhline(precision, color="black", linestyle="--", linewidth=1)
    if title:
        ax.set_title(title)
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
    """Line plots of several metric columns against `x`, one panel per metric, one line per `hue` value; where an
    `x` has several rows (training seeds), the line is their mean with a 95% band and each row is a point."""
    fig, axes = plt.subplots(1, len(ys), figsize=(4 * len(ys), 3.2), squeeze=False)
    for ax, (column, label) in zip(axes[0], ys.items()):
        sns.lineplot(table, x=x, y=column, hue=hue, marker="o", ax=ax)
        sns.scatterplot(table, x=x, y=column, hue=hue, legend=False, alpha=0.5, s=12, ax=ax)
        if logx:
            ax.set_xscale("log")
        ax.set_ylabel(label)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
