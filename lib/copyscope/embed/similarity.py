"""Similarity between embedded images: the global dot product, and paper A's split product for local copies."""
from __future__ import annotations

import numpy as np


def dot_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) inner products of the rows of `a` (N, D) and `b` (M, D): the cosine when rows are L2-normalised."""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"dot similarity needs (N, D) and (M, D) arrays, got {a.shape} and {b.shape}")
    return a @ b.T


def split_product_similarity(tokens_a: np.ndarray, tokens_b: np.ndarray, chunks: int) -> np.ndarray:
    """(N, M) split-product similarity of token maps (N, T, D) and (M, T, D).

    The T tokens (in order) are cut into `chunks` equal groups; each group, flattened, is L2-normalised; two images
    score the largest inner product of their same-position groups. One group that matches is enough, so a copied
    object or region scores high even when the rest of the image differs.
    """
    a, b = np.asarray(tokens_a, dtype=np.float32), np.asarray(tokens_b, dtype=np.float32)
    if a.ndim != 3 or b.ndim != 3 or a.shape[1:] != b.shape[1:]:
        raise ValueError(f"split product needs (N, T, D) and (M, T, D) token maps, got {a.shape} and {b.shape}")
    if chunks < 1 or a.shape[1] % chunks:
        raise ValueError(f"cannot split {a.shape[1]} tokens into {chunks} equal chunks")
    a, b = _normalized_chunks(a, chunks), _normalized_chunks(b, chunks)
    best = np.full((len(a), len(b)), -np.inf, dtype=np.float32)
    for c in range(chunks):
        np.maximum(best, a[:, c] @ b[:, c].T, out=best)
    return best


def _normalized_chunks(tokens: np.ndarray, chunks: int) -> np.ndarray:
    grouped = tokens.reshape(len(tokens), chunks, -1)
    norms = np.linalg.norm(grouped, axis=2, keepdims=True)
    return grouped / np.maximum(norms, 1e-12)
