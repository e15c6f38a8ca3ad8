import numpy as np
import pytest

from copyscope.quality import COLUMN, PretrainedFrechet


def test_pretrained_frechet_is_zero_for_one_set_and_grows_with_the_difference():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    noisy = np.clip(images.astype(int) + rng.integers(-8, 9, images.shape), 0, 255).astype(np.uint8)
    flat = np.repeat(np.repeat(rng.integers(0, 256, (12, 1, 1, 3), dtype=np.uint8), 16, axis=1), 16, axis=2)
    frechet = PretrainedFrechet()
    assert frechet(images, images) == pytest.approx(0, abs=1e-3)
    assert 0 < frechet(noisy, images) < frechet(flat, images)
    assert COLUMN == "frechet_efficientnet_lite0"
