"""Findings as verdicts from intervals: a paper's phenomenon "holds" only when the 95% interval of its difference
excludes zero in the paper's direction, else it is "not shown at this scale".

A study records each finding `key` in its flat metrics as `<key>_difference`, `<key>_difference_ci95` and
`verdict_<key>` (and `<key>_seeds` when its model has other seeds than the study's `seeds`), and a `summary` of
them all; the README's verdict table is rendered from those keys.
"""
from __future__ import annotations

from copyscope.metrics.uncertainty import HOLDS, Estimate, verdict
from copyscope.studies.prose import interval, num

PREFIX = "verdict_"


def record(out: dict, key: str, difference: Estimate, direction: int = 1, seeds: int | None = None) -> None:
    """Write one finding's difference, its interval and its verdict into the metrics dict `out`; `seeds` only
    where they differ from the study's."""
    if seeds is not None:
        out[f"{key}_seeds"] = seeds
    out[f"{key}_difference"] = difference.value
    out[f"{key}_difference_ci95"] = difference.ci95
    out[f"{PREFIX}{key}"] = verdict(difference, direction)


def keys(metrics: dict) -> list[str]:
    """The findings recorded in `metrics`, in the order they were recorded."""
    return [key[len(PREFIX):] for key in metrics if key.startswith(PREFIX)]


def summary(out: dict) -> str:
    """"k of n findings hold" over the findings recorded so far."""
    found = keys(out)
    return f"{sum(out[PREFIX + k] == HOLDS for k in found)} of {len(found)} findings hold"


def phrase(metrics: dict, key: str, format_one=num) -> str:
    """"holds (difference 0.12 [0.05, 0.20])" for a finding, with its interval."""
    return (f"{metrics[PREFIX + key]} (difference {format_one(metrics[f'{key}_difference'])} "
            f"{interval(metrics[f'{key}_difference_ci95'], format_one)})")


def rows(metrics: dict, describe) -> list[dict]:
    """The verdict table's rows for one study: what is claimed (`describe(key)`), the difference, its interval, the
    verdict and the training seeds behind it."""
    return [{"finding": describe(key), "difference": num(metrics[f"{key}_difference"]),
             "ci95": interval(metrics[f"{key}_difference_ci95"]), "verdict": metrics[PREFIX + key],
             "seeds": metrics.get(f"{key}_seeds", metrics.get("seeds", 1))}
            for key in keys(metrics)]
