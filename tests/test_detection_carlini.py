import numpy as np
import pytest

from copyscope.detection import carlini
from copyscope.detection.bright_ending import bright_ending_scores
from copyscope.detection.carlini import carlini_scores, tiled_l2_distances


def _brute_force(images, grid):
    n, size = len(images), images.shape[1] // grid
    x = images.astype(np.float64) / 255
    out = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            out[a, b] = max(np.sqrt(np.mean((x[a, i:i + size, j:j + size] - x[b, i:i + size, j:j + size]) ** 2))
                            for i in range(0, images.shape[1], size) for j in range(0, images.shape[2], size))
    return out


def test_tiled_distance_matches_brute_force_and_takes_the_worst_tile():
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    for grid in (1, 2, 4):
        np.testing.assert_allclose(tiled_l2_distances(images, grid), _brute_force(images, grid), atol=1e-12)
    a = np.zeros((1, 8, 8, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0, 0] = 255  # one channel of one pixel differs, in the top-left 4x4 tile
    assert tiled_l2_distances(np.concatenate([a, b]), 2)[0, 1] == pytest.approx(np.sqrt(1 / 48))
    assert tiled_l2_distances(np.concatenate([a, b]), 1)[0, 1] == pytest.approx(np.sqrt(1 / 192))


def test_identical_generations_score_highest(model, monkeypatch):
    rng = np.random.default_rng(1)
    copy = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)

    def fake_generate(model, prompts, seed, steps, guidance, batch_size, negative_prompt, progress):
        return np.stack([copy if p == "memorized" else rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
                         for p in prompts])

    monkeypatch.setattr(carlini, "generate", fake_generate)
    result = carlini_scores(model, ["memorized", "novel"], generations=3, steps=7, progress=False)
    assert result.scores[0] == 0 and result.scores[1] < -0.2
    assert result.details["pair_distances"].shape == (2, 3)
    assert result.unet_evals_per_prompt == 2 * 7 * 3 and result.steps == 7


def test_real_generations_are_seeded_and_independent_of_the_batch_size(model):
    prompts = ["a red circle", "a blue square", "a green ring"]
    a = carlini_scores(model, prompts, generations=2, steps=2, seed=3, batch_size=2, progress=False)
    b = carlini_scores(model, prompts, generations=2, steps=2, seed=3, batch_size=1, progress=False)
    c = carlini_scores(model, prompts, generations=2, steps=2, seed=4, batch_size=2, progress=False)
    assert a.scores.shape == (3,) and np.all(a.scores <= 0)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert not np.array_equal(a.scores, c.scores)


def test_bad_inputs_are_rejected(model):
    with pytest.raises(ValueError, match="generations >= 2"):
        carlini_scores(model, ["a"], generations=1, progress=False)
    with pytest.raises(ValueError, match="grid"):
        tiled_l2_distances(np.zeros((2, 10, 10, 3), np.uint8), grid=4)


def test_the_bright_ending_run_draws_exactly_the_generations_carlini_scores(model):
    prompts = ["a red circle", "a blue square", "a green ring"]
    options = dict(generations=3, steps=2, seed=5, guidance=2.0, batch_size=2, progress=False)
    own = carlini_scores(model, prompts, **options)
    chen = bright_ending_scores(model, prompts, keep_images=True, **options)
    assert chen.details["images"].shape[0] == 9 and chen.details["images"].dtype == np.uint8
    shared = carlini.scores_from_generations(chen.details["images"], 3, steps=2, sampling_seconds=chen.seconds)
    np.testing.assert_allclose(shared.scores, own.scores, atol=1e-6)
    np.testing.assert_allclose(shared.details["pair_distances"], own.details["pair_distances"], atol=1e-6)
    assert shared.unet_evals_per_prompt == own.unet_evals_per_prompt and shared.seconds >= chen.seconds
    with pytest.raises(ValueError, match="whole groups"):
        carlini.scores_from_generations(chen.details["images"][:8], 3, steps=2, sampling_seconds=0.0)
