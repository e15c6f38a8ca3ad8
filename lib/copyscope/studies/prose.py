"""Number formatting for the conclusions rendered from metrics: every number in a conclusion comes from the metrics
dict through one of these, and a missing value (None, or NaN before it is written) reads "n/a"."""
from __future__ import annotations

import math


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value, digits: int = 3) -> str:
    """A similarity, AUC or distance: fixed decimals."""
    return "n/a" if missing(value) else f"{value:.{digits}f}"


def pct(value) -> str:
    """A fraction as a percentage with one decimal."""
    return "n/a" if missing(value) else f"{100 * value:.1f}%"


def points(value) -> str:
    """A change of a fraction, in signed percentage points."""
    return "n/a" if missing(value) else f"{100 * value:+.1f} points"


def signed(value, digits: int = 3) -> str:
    return "n/a" if missing(value) else f"{value:+.{digits}f}"


def rho(value) -> str:
    """Spearman's rank correlation, or why there is none (a constant series)."""
    return "ρ undefined: constant" if missing(value) else f"Spearman ρ = {value:.2f}"


def interval(pair, format_one=num) -> str:
    """A 95% interval [low, high] as "[low, high]" with the value's formatter."""
    if pair is None or any(missing(v) for v in pair):
        return "[n/a]"
    return f"[{format_one(pair[0])}, {format_one(pair[1])}]"
