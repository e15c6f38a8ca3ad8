"""Replication scores (paper A): each generation's top-1 similarity to the training set, and its baselines.

One vocabulary for every study's copying summary (`summarize`): similarity_p95 (paper B's dataset similarity
score), similarity_mean, similarity_median, similarity_max, replica_fraction (above the replica threshold) and n.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from copyscope.search import top_k

STATISTICS = ("similarity_p95", "similarity_mean", "similarity_median", "similarity_max", "replica_fraction")


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


def best_matches(similarity: np.ndarray, exclude_self: bool = False) -> Matches:
    """Each row's largest entry of a (queries, training) similarity matrix; with `exclude_self` the matrix is
    training against itself and the diagonal is skipped (train vs train)."""
    similarity = np.array(similarity, dtype=np.float32)
    if exclude_self:
        if similarity.shape[0] != similarity.shape[1] or len(similarity) < 2:
            raise ValueError(f"exclude_self needs a square matrix of at least two rows, got {similarity.shape}")
        np.fill_diagonal(similarity, -np.inf)
    indices = similarity.argmax(axis=1)
    return Matches(similarity[np.arange(len(similarity)), indices], indices)


def summarize(scores: np.ndarray, threshold: float) -> dict:
    """The copying summary of top-1 similarities, in the scores' own precision: the five `STATISTICS` and n.
    An empty set (e.g. the duplicated items of a model without duplicates) has n = 0 and None for the rest."""
    scores = np.asarray(scores)
    if scores.size == 0:
        return {**dict.fromkeys(STATISTICS), "n": 0}
    return {
        "similarity_p95": float(np.percentile(scores, 95)), "similarity_mean": float(scores.mean()),
        "similarity_median": float(np.median(scores)), "similarity_max": float(scores.max()),
        "replica_fraction": float((scores > threshold).mean()), "n": int(scores.size),
    }


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets (FID's formula, in any extractor space).

    The trace of sqrtm(Σa Σb) is the nuclear norm of Ra Rbᵀ for any factors with Σ = Rᵀ R: the centred embeddings
    (n × d) when a set has fewer embeddings than dimensions, else the symmetric root of Σ (d × d): an identity, not an
    approximation, and far cheaper than scipy's `sqrtm` of the product."""
    if min(len(a), len(b)) < 2:
        raise ValueError("the Fréchet distance needs at least two embeddings per set")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    root_a, root_b = _covariance_factor(a), _covariance_factor(b)
    trace_root = np.linalg.svd(root_a @ root_b.T, compute_uv=False).sum()
    variance = (root_a ** 2).sum() + (root_b ** 2).sum()  # trace of Σa + Σb
    return float(((a.mean(axis=0) - b.mean(axis=0)) ** 2).sum() + variance - 2 * trace_root)


def _covariance_factor(x: np.ndarray) -> np.ndarray:
    """R with Rᵀ R = cov(x) (rows as samples), whichever of its two shapes is smaller."""
    centred = (x - x.mean(axis=0)) / np.sqrt(len(x) - 1)
    if len(x) <= x.shape[1]:
        return centred
    values, vectors = np.linalg.eigh(centred.T @ centred)
    return (vectors * np.sqrt(values.clip(min=0))) @ vectors.T
