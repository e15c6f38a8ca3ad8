"""Image quality as a Fréchet distance in a pretrained feature space: FID's formula in EfficientNet-Lite0's ImageNet
features (not Inception FID), reported beside the Fréchet distance in the study extractor's space by every study
that reports quality. Its 224-px embedding is slow on a CPU (about 16 images/s), so studies compute it for a
model's first seed."""
from __future__ import annotations

import numpy as np

from copyscope.embed.registry import get_extractor
from copyscope.metrics.replication import frechet_distance

FEATURES = "efficientnet_lite0"
COLUMN = f"frechet_{FEATURES}"


class PretrainedFrechet:
    """Fréchet distance between generations and training images in `FEATURES` (the extractor loads once)."""

    def __init__(self):
        self.features = get_extractor(FEATURES)

    def __call__(self, generations: np.ndarray, training_images: np.ndarray) -> float:
        return frechet_distance(self.features(generations), self.features(training_images))
