"""Rank feature extractors by how well they retrieve the sources of a copy benchmark's queries."""
from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from copyscope.benchmark.copies import CopyBenchmark
from copyscope.benchmark.retrieval import RetrievalReport, evaluate_retrieval, search_ranking

Embedder = Callable[[np.ndarray], np.ndarray]


def evaluate_extractors(benchmark: CopyBenchmark, extractors: dict[str, Embedder],
                        precision: float = 0.95) -> dict[str, RetrievalReport]:
    """Embed the benchmark's queries and database with each extractor (L2-normalised rows) and evaluate retrieval."""
    if not extractors:
        raise ValueError("no extractors to evaluate")
    reports = {}
    for name, extractor in extractors.items():
        ranking = search_ranking(extractor(benchmark.queries), extractor(benchmark.database))
        reports[name] = evaluate_retrieval(ranking, benchmark.source_index, precision)
    return reports


def rank_extractors(benchmark: CopyBenchmark, extractors: dict[str, Embedder],
                    precision: float = 0.95) -> pd.DataFrame:
    """One row per extractor, best mAP first: name, mAP, micro_AP, R@1, R@5, R@10, MRR, the calibrated threshold,
    the recall at it, and the extractor's preprocessing (JSON). The per-extractor reports, with their
    precision-recall curves, are in `table.attrs["reports"]`."""
    reports = evaluate_extractors(benchmark, extractors, precision)
    rows = [{"name": name, **report.summary(),
             "preprocessing": json.dumps(getattr(extractors[name], "preprocessing", {}), sort_keys=True)}
            for name, report in reports.items()]
    table = pd.DataFrame(rows).sort_values("mAP", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs["reports"] = reports
    return table
