"""Shared fixtures: tiny datasets and models that make every test run in seconds on a CPU."""
from __future__ import annotations

import pytest
import torch

from copyscope.data.sources import procedural_set, scenes_set
from copyscope.models.text_to_image import build_pixel_model

torch.set_num_threads(1)  # tiny tensors: a second thread only adds contention


@pytest.fixture(scope="session")
def shapes():
    return procedural_set(24, 16, seed=3, max_objects=3, n_captions=3, identifiers=True)


@pytest.fixture(scope="session")
def scenes():
    """24 scenes, the first 6 in two template families of three."""
    return scenes_set(24, 16, seed=3, max_objects=3, n_captions=2, families=2, family_size=3, n_titles=4)


def tiny_model(prediction_type: str = "epsilon", seed: int = 0):
    return build_pixel_model(16, [8, 16], attention_head_dim=4, text_width=16, text_layers=1, text_heads=2,
                             max_length=16, prediction_type=prediction_type, seed=seed)


@pytest.fixture
def model():
    return tiny_model()
