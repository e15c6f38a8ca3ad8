"""The prepared image–caption set every study reads: images, captions, labels, ids and optional masks."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from copyscope.atomic import atomic_directory
from copyscope.errors import MissingOutput


@dataclass
class ImageCaptionSet:
    """N images (uint8, N×H×W×3) with one or more captions each; `captions[i][0]` is the primary caption."""

    images: np.ndarray
    captions: list[list[str]]
    labels: list[str]
    ids: list[str]
    masks: np.ndarray | None = None  # N×H×W uint8 instance masks, 0 = background
    meta: dict = field(default_factory=dict)
    families: np.ndarray | None = None  # per image: its template family (same layout, one caption), -1 for none

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[-1] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 N×H×W×3, got {self.images.dtype} {self.images.shape}")
        for name in ("captions", "labels", "ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} images")
        if any(not caps or not all(isinstance(c, str) for c in caps) for caps in self.captions):
            raise ValueError("every image needs at least one caption string")
        if len(set(self.ids)) != n:
            raise ValueError("image ids must be unique")
        if self.masks is not None and self.masks.shape != self.images.shape[:3]:
            raise ValueError(f"masks {self.masks.shape} do not match images {self.images.shape[:3]}")
        if self.families is not None and len(self.families) != n:
            raise ValueError(f"families has {len(self.families)} entries for {n} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> int:
        return self.images.shape[1]

    def subset(self, indices) -> "ImageCaptionSet":
        indices = np.asarray(indices, dtype=int)
        return ImageCaptionSet(
            images=self.images[indices], captions=[self.captions[i] for i in indices],
            labels=[self.labels[i] for i in indices], ids=[self.ids[i] for i in indices],
            masks=None if self.masks is None else self.masks[indices], meta=dict(self.meta),
            families=None if self.families is None else self.families[indices],
        )

    def save(self, path: str | Path) -> None:
        """images.npy, masks.npy, records.jsonl and meta.json in one folder, written atomically."""
        with atomic_directory(path) as tmp:
            np.save(tmp / "images.npy", self.images)
            if self.masks is not None:
                np.save(tmp / "masks.npy", self.masks)
            with open(tmp / "records.jsonl", "w") as handle:
                for i in range(len(self)):
                    record = {"id": self.ids[i], "label": self.labels[i], "captions": self.captions[i]}
                    if self.families is not None:
                        record["family"] = int(self.families[i])
                    handle.write(json.dumps(record) + "\n")
            (tmp / "meta.json").write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ImageCaptionSet":
        path = Path(path)
        if not (path / "images.npy").is_file():
            raise MissingOutput(f"no prepared dataset at {path}: run `dvc repro` (or `python -m copyscope "
                                f"prepare {path.name}`) first")
        records = [json.loads(line) for line in (path / "records.jsonl").read_text().splitlines()]
        masks = np.load(path / "masks.npy") if (path / "masks.npy").is_file() else None
        return cls(
            images=np.load(path / "images.npy"), captions=[r["captions"] for r in records],
            labels=[r["label"] for r in records], ids=[r["id"] for r in records], masks=masks,
            meta=json.loads((path / "meta.json").read_text()),
            families=np.asarray([r["family"] for r in records]) if records and "family" in records[0] else None,
        )
