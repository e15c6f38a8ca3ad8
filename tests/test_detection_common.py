import time

import numpy as np
import pytest
import torch

from copyscope.detection.common import (
    DetectorScores,
    prompt_batches,
    sampling_timesteps,
    seconds_since,
    to_numpy,
    upcast,
)
from copyscope.detection.anisotropy import anisotropy_scores
from copyscope.detection.attention_entropy import ren_entropy_scores
from copyscope.detection.bright_ending import bright_ending_scores
from copyscope.detection.carlini import carlini_scores
from copyscope.detection.explain import token_significance
from copyscope.detection.magnitude import wen_magnitude
from copyscope.detection.sharpness import sharpness_scores
from copyscope.sampling import initial_noise
from tests.conftest import tiny_model


def test_batches_carry_each_generation_the_noise_generate_would_use(model):
    prompts = ["a", "b c", "d", "e f g", "h"]
    batches = list(prompt_batches(model, prompts, generations=3, seed=9, batch_size=2, progress=False))
    assert [b.prompts for b in batches] == [["a", "b c"], ["d", "e f g"], ["h"]]
    torch.testing.assert_close(torch.cat([b.noise for b in batches]), initial_noise(model, 15, seed=9))
    first = batches[0]
    torch.testing.assert_close(first.embeddings, model.encode(["a", "b c"]))
    assert not first.embeddings.requires_grad and torch.is_grad_enabled()
    torch.testing.assert_close(first.cond[3], first.embeddings[1])  # generations of a prompt are consecutive
    torch.testing.assert_close(first.uncond[5], model.encode([""])[0])
    assert first.per_prompt(torch.arange(6)).tolist() == [[0, 1, 2], [3, 4, 5]]


def test_bad_prompt_lists_are_rejected_before_any_work(model):
    for prompts, generations, batch_size, error in [("a prompt", 1, 1, TypeError), ([], 1, 1, ValueError),
                                                    (["a", 3], 1, 1, TypeError), (["a"], 0, 1, ValueError),
                                                    (["a"], 1, 0, ValueError)]:
        with pytest.raises(error):
            next(prompt_batches(model, prompts, generations, seed=0, batch_size=batch_size, progress=False))


def test_small_helpers(model):
    assert sampling_timesteps(model, 4).tolist() == [999, 749, 499, 249]
    with pytest.raises(ValueError, match="steps"):
        sampling_timesteps(model, 0)
    assert 0 <= seconds_since(time.perf_counter(), model.device) < 1
    assert to_numpy(torch.tensor([1.5], dtype=torch.float16)).dtype == np.float64
    assert upcast(torch.ones(1, dtype=torch.float16)).dtype == torch.float32
    assert upcast(torch.ones(1, dtype=torch.float64)).dtype == torch.float64
    result = DetectorScores("m", np.zeros(4), steps=1, generations=1, unet_evals_per_prompt=2.0, seconds=2.0)
    assert result.seconds_per_prompt == 0.5


def _every_detector(model, prompts, seed):
    options = dict(steps=2, seed=seed, progress=False)
    return [
        wen_magnitude(model, prompts, generations=1, **options),
        carlini_scores(model, prompts, generations=2, **options),
        ren_entropy_scores(model, prompts, **options),
        bright_ending_scores(model, prompts, generations=1, **options),
        sharpness_scores(model, prompts, **options),
        anisotropy_scores(model, prompts, cosine_step=-1, **options),
    ]


def test_every_detector_repeats_exactly_with_its_seed_and_changes_with_another(model):
    prompts = ["a red circle", "a blue square"]
    for first, again, other in zip(*(_every_detector(model, prompts, seed) for seed in (0, 0, 1))):
        np.testing.assert_array_equal(first.scores, again.scores, err_msg=first.method)
        assert not np.allclose(first.scores, other.scores), first.method


def test_every_detector_runs_on_a_v_prediction_model():
    model, prompts = tiny_model("v_prediction"), ["a red circle", "a blue square"]
    for result in _every_detector(model, prompts, seed=0):
        assert result.scores.shape == (2,) and np.isfinite(result.scores).all(), result.method
    significance = token_significance(model, prompts, generations=1, steps=2, progress=False)
    assert np.isfinite(significance[0].significance).all()
