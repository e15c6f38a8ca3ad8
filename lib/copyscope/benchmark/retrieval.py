"""Retrieval quality on a copy benchmark, and the replica threshold it calibrates.

A query's *top-1 is correct* when the query is a copy and its best database match is its source. Metrics over the
copy queries use the rank of the source in the query's ranking of the database; the threshold and the
precision-recall curve use every query's top-1 score, copies and non-copies alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from copyscope.search import top_k

RECALL_AT = (1, 5, 10)
MAX_DEPTH = 1024  # ranks beyond this add under 0.001 to a query's reciprocal rank (and FAISS GPU caps k at 2048)


@dataclass
class Ranking:
    """Each query's database rows, best first, with their scores: (Q, depth) arrays."""

    scores: np.ndarray
    ids: np.ndarray


def search_ranking(queries: np.ndarray, database: np.ndarray, depth: int | None = None) -> Ranking:
    """Rank the database for each query by inner product of embeddings (exact FAISS search), to `depth` rows
    (by default the whole database, up to MAX_DEPTH rows)."""
    scores, ids = top_k(queries, database, k=depth or min(len(database), MAX_DEPTH))
    return Ranking(scores, ids)


def similarity_ranking(similarity: np.ndarray, depth: int | None = None) -> Ranking:
    """Rank from a precomputed (Q, D) similarity matrix, e.g. split-product similarity; ties keep database order."""
    similarity = np.asarray(similarity)
    ids = np.argsort(-similarity, axis=1, kind="stable")[:, :depth or similarity.shape[1]]
    return Ranking(np.take_along_axis(similarity, ids, axis=1), ids)


@dataclass
class RetrievalReport:
    mAP: float  # mean average precision over copy queries (one relevant item each, so AP = 1 / rank)
    micro_AP: float  # area under the precision-recall curve of top-1 matches over all queries (ISC's µAP)
    recall_at: dict[int, float]  # fraction of copy queries whose source is among the top k
    mrr: float  # mean reciprocal rank of the source over copy queries (0 when beyond the ranking's depth)
    threshold: float  # calibrated replica threshold (nan when no threshold reaches the precision)
    recall_at_threshold: float
    precision: float  # the precision the threshold was calibrated for
    curve: pd.DataFrame  # threshold, precision, recall: one row per distinct top-1 score, highest first

    def summary(self) -> dict:
        return {"mAP": self.mAP, "micro_AP": self.micro_AP, **{f"R@{k}": v for k, v in self.recall_at.items()},
                "MRR": self.mrr, "threshold": self.threshold, "recall_at_threshold": self.recall_at_threshold}


def evaluate_retrieval(ranking: Ranking, source_index: np.ndarray, precision: float = 0.95) -> RetrievalReport:
    """Retrieval metrics of a ranking against the known sources (`source_index[q]`, -1 for non-copy queries)."""
    source_index = np.asarray(source_index)
    if len(source_index) != len(ranking.ids):
        raise ValueError(f"{len(source_index)} source indices for {len(ranking.ids)} ranked queries")
    if not 0 < precision <= 1:
        raise ValueError(f"precision must be in (0, 1], got {precision}")
    copies = source_index >= 0
    if not copies.any():
        raise ValueError("the benchmark has no copy queries")
    hits = ranking.ids[copies] == source_index[copies, None]
    ranks = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    reciprocal = 1 / ranks
    correct = copies & (ranking.ids[:, 0] == source_index)
    curve = precision_recall_curve(ranking.scores[:, 0], correct, int(copies.sum()))
    threshold, recall = calibrate_threshold(curve, precision)
    gained = np.diff(np.concatenate([[0.0], curve["recall"].to_numpy()]))
    return RetrievalReport(
        mAP=float(reciprocal.mean()), micro_AP=float((gained * curve["precision"].to_numpy()).sum()),
        recall_at={k: float((ranks <= k).mean()) for k in RECALL_AT}, mrr=float(reciprocal.mean()),
        threshold=threshold, recall_at_threshold=recall, precision=precision, curve=curve,
    )


def precision_recall_curve(top1_scores: np.ndarray, correct: np.ndarray, n_copies: int) -> pd.DataFrame:
    """For each distinct top-1 score t (highest first): among queries scoring >= t, the fraction whose top-1 is
    correct (precision), and the fraction of all copy queries that are accepted and correct (recall)."""
    order = np.argsort(-top1_scores, kind="stable")
    scores, hits = top1_scores[order], np.asarray(correct)[order]
    accepted, found = np.arange(1, len(scores) + 1), np.cumsum(hits)
    last_of_tie = np.r_[scores[1:] != scores[:-1], True]  # a threshold accepts every query tied at it
    return pd.DataFrame({"threshold": scores[last_of_tie].astype(float),
                         "precision": found[last_of_tie] / accepted[last_of_tie],
                         "recall": found[last_of_tie] / n_copies})


def calibrate_threshold(curve: pd.DataFrame, precision: float) -> tuple[float, float]:
    """The lowest top-1 score t such that, among the queries whose top-1 score is >= t, at least `precision` are
    copies whose top-1 is their true source; and the recall (fraction of copy queries so found) at t.
    (nan, 0.0) when no t reaches the precision."""
    reaching = curve[curve["precision"] >= precision]
    if reaching.empty:
        return float("nan"), 0.0
    lowest = reaching.iloc[-1]
    return float(lowest["threshold"]), float(lowest["recall"])
