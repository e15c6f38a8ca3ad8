"""The detection benchmark's prompts and their labels: which are memorized, which clean (and of which group), which
left out; shared by the embedded detection study and the Stable Diffusion studies, which label prompts by their
files."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MEMORIZED, UNVERIFIED = "memorized", "duplicated, not verified"
CLEAN = ("unique training", "novel", "random tokens")


@dataclass
class DetectionBenchmark:
    prompts: list[str]
    groups: np.ndarray  # per prompt: MEMORIZED, UNVERIFIED or one of CLEAN
    kinds: np.ndarray  # per prompt: MV, TV, UNIQUE, "novel" or "random tokens"
    replica_rate: np.ndarray  # per prompt: fraction of verification generations that copy its training image(s)
    # (NaN for prompts that have no training image)
    verified: bool = True  # False: no candidate was verified and the duplicated prompts stand in as positives

    @property
    def scored(self) -> np.ndarray:
        """The prompts the leaderboard uses: memorized and clean."""
        return self.groups != UNVERIFIED

    @property
    def memorized(self) -> np.ndarray:
        return self.groups == MEMORIZED

    @property
    def clean(self) -> np.ndarray:
        return self.scored & ~self.memorized

    @property
    def positives(self) -> str:
        """What the leaderboard's positives are."""
        return "verified replicas" if self.verified else (
            "duplicated prompts, NOT verified (no prompt was replicated)")

    def unverified_as_memorized(self) -> "DetectionBenchmark":
        """Where nothing was verified (e.g. the tiny smoke models), all duplicated prompts as positives: the
        leaderboard then measures detection of duplication, not of memorization, and must say so."""
        return DetectionBenchmark(self.prompts, np.where(self.groups == UNVERIFIED, MEMORIZED, self.groups),
                                  self.kinds, self.replica_rate, verified=False)

    def group_masks(self) -> dict[str, np.ndarray]:
        """One boolean mask per group present, in order of first appearance."""
        return {group: self.groups == group for group in pd.unique(self.groups)}

    def subsample(self, share: float, seed: int) -> "DetectionBenchmark":
        """A seeded `share` of each kind's prompts (at least one of each), in the original order."""
        rng, keep = np.random.default_rng([seed, 29]), np.zeros(len(self.prompts), dtype=bool)
        for kind in pd.unique(self.kinds):
            members = np.flatnonzero(self.kinds == kind)
            keep[rng.choice(members, size=max(1, round(share * len(members))), replace=False)] = True
        return DetectionBenchmark([p for p, k in zip(self.prompts, keep) if k], self.groups[keep], self.kinds[keep],
                                  self.replica_rate[keep], self.verified)

    def design(self) -> pd.DataFrame:
        """Per kind of prompt: how many, how many memorized, and the mean replica rate that justifies the labels."""
        rows = []
        for kind in pd.unique(self.kinds):
            mask = self.kinds == kind
            rate = self.replica_rate[mask]
            rows.append({"kind": kind, "prompts": int(mask.sum()), "memorized": int((mask & self.memorized).sum()),
                         "replica_rate": float(np.nanmean(rate)) if np.isfinite(rate).any() else np.nan})
        return pd.DataFrame(rows)
