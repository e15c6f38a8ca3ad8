"""Replication scores (paper A): each generation's top-1 similarity to the training set, and its baselines."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from copyscope.search import top_k


@dataclass
class Matches:
    """Each query's best training match: similarity and training index."""

    scores: np.ndarray
    indices: np.ndarray


def nearest_training(queries: np.ndarray, training: np.ndarray) -> Matches:
    """Top-1 inner product of each (L2-normalised) query embedding among the training embeddings."""
    scores, ids = top_k(queries, training, k=1)
    return Matches(scores[:, 0], ids[:, 0])


def train_vs_train(training: np.ndarray) -> Matches:
    """Each training image against its nearest *other* training image: the no-copying reference histogram."""
    scores, ids = top_k(training, training, k=1, exclude_self=True)
    return Matches(scores[:, 0], ids[:, 0])


def summarize(scores: np.ndarray, threshold: float) -> dict:
    """Mean, median, 95th percentile (paper B's dataset similarity score), max, and the fraction above threshold."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        raise ValueError("no scores to summarize")
    return {
        "mean": float(scores.mean()), "median": float(np.median(scores)), "p95": float(np.percentile(scores, 95)),
        "max": float(scores.max()), "fraction_above_threshold": float((scores > threshold).mean()),
        "n": int(scores.size),
    }


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets (FID's formula, in any extractor space)."""
    if min(len(a), len(b)) < 2:
        raise ValueError("the Fréchet distance needs at least two embeddings per set")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(root).all():
        eye = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + eye) @ (cov_b + eye))
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root.real))
