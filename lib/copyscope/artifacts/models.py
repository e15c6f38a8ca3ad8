"""Trained models as the train stage saves them under data/models/<name>/seed-<k>: weights and the training record."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch

from copyscope import paths
from copyscope.errors import MissingOutput
from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.training_set import MV, UNIQUE
from copyscope.devices import pick_device
from copyscope.models.text_to_image import TextToImage

RECORD = "training.json"


@dataclass
class TrainedModel:
    """A trained model with the record of what it saw: training ids, prompts and duplication flags."""

    model: TextToImage
    record: dict

    @property
    def prompts(self) -> list[str]:
        return self.record["prompts"]

    @property
    def duplicated(self) -> np.ndarray:
        return np.asarray(self.record["duplicated"], dtype=bool)

    @property
    def duplication_kind(self) -> list[str]:
        """Per training image: matching verbatim, template verbatim or unique (older records: from `duplicated`)."""
        return self.record.get("duplication_kind") or [MV if d else UNIQUE for d in self.duplicated]

    @property
    def family(self) -> list[int]:
        """Per training image: its template family in the dataset, -1 for none."""
        return self.record.get("family") or [-1] * len(self.prompts)

    def training_images(self, data: ImageCaptionSet) -> np.ndarray:
        index = {image_id: i for i, image_id in enumerate(data.ids)}
        return data.images[[index[i] for i in self.record["ids"]]]


def load_trained(name: str, device: torch.device | None = None, seed: int = 0) -> TrainedModel:
    folder = paths.model_dir(name, seed)
    if not (folder / RECORD).is_file():
        raise MissingOutput(f"model {name!r} is not trained yet (no {folder}/{RECORD}): run `dvc repro`")
    model = TextToImage.load(folder / "model", device or pick_device())
    return TrainedModel(model, json.loads((folder / RECORD).read_text()))


def load_with_training_images(name: str, seed: int = 0) -> tuple[TrainedModel, np.ndarray]:
    """Training seed `seed` of a trained model and the (unique) images it trained on, in its training order."""
    trained = load_trained(name, seed=seed)
    data = ImageCaptionSet.load(paths.dataset_dir(trained.record["dataset"]))
    return trained, trained.training_images(data)
