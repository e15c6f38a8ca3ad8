import numpy as np
import pytest
import torch

from copyscope.detection.magnitude import magnitude_trajectory, wen_magnitude, wen_scores
from copyscope.sampling import initial_noise

PROMPTS = ["a red circle", "a blue square", "two small green rings"]


def _reference(model, prompts, steps, generations, seed, guidance):
    """The guided DDIM path written out step by step, with separate conditional and unconditional passes."""
    x = initial_noise(model, len(prompts) * generations, seed)
    cond = model.encode(prompts).repeat_interleave(generations, dim=0)
    uncond = model.encode([""]).expand(len(x), -1, -1)
    scheduler = model.sampling_scheduler()
    scheduler.set_timesteps(steps)
    norms = []
    with torch.no_grad():
        for t in scheduler.timesteps:
            eps_u, eps_c = model.eps(x, t, uncond), model.eps(x, t, cond)
            norms.append(torch.sqrt(((eps_c - eps_u) ** 2).sum(dim=(1, 2, 3))))
            x = scheduler.step(eps_u + guidance * (eps_c - eps_u), t, x).prev_sample
    return torch.stack(norms, dim=-1).reshape(len(prompts), generations, steps).numpy()


def test_trajectory_matches_a_step_by_step_reference_and_ignores_the_batch_size(model):
    a = magnitude_trajectory(model, PROMPTS, steps=3, generations=2, seed=5, guidance=3.0, batch_size=2,
                             progress=False)
    b = magnitude_trajectory(model, PROMPTS, steps=3, generations=2, seed=5, guidance=3.0, batch_size=1,
                             progress=False)
    assert a.magnitudes.shape == (3, 2, 3) and a.per_step.shape == (3, 3)
    np.testing.assert_allclose(a.magnitudes, _reference(model, PROMPTS, 3, 2, 5, 3.0), rtol=1e-4)
    np.testing.assert_allclose(a.magnitudes, b.magnitudes, rtol=1e-5)
    assert list(a.timesteps) == sorted(a.timesteps, reverse=True) and a.timesteps[0] == 999
    assert np.all(np.diff(a.step_seconds) >= 0) and a.step_seconds[0] > 0


def test_one_pass_serves_every_step_count_and_charges_only_the_steps_used(model):
    full = magnitude_trajectory(model, PROMPTS[:2], steps=3, generations=2, seed=1, progress=False)
    for k, expected in [(1, full.magnitudes[:, :, :1]), (2, full.magnitudes[:, :, :2]), (None, full.magnitudes)]:
        result = wen_scores(full, k)
        np.testing.assert_allclose(result.scores, expected.mean(axis=(1, 2)))
        assert result.unet_evals_per_prompt == 2 * (k or 3) * 2 and result.steps == (k or 3)
        assert result.details["per_generation"].shape == (2, 2)
    assert wen_scores(full, 1).seconds <= wen_scores(full, None).seconds
    early = wen_magnitude(model, PROMPTS[:2], first_steps=2, steps=3, generations=2, seed=1, progress=False)
    np.testing.assert_allclose(early.scores, wen_scores(full, 2).scores, rtol=1e-5)
    assert early.details["trajectory"].shape == (2, 2)


def test_same_seed_same_scores_and_another_seed_other_scores(model):
    def run(seed):
        return wen_magnitude(model, PROMPTS[:2], first_steps=1, steps=4, generations=2, seed=seed,
                             progress=False).scores

    np.testing.assert_array_equal(run(0), run(0))
    assert not np.allclose(run(0), run(1))


def test_magnitude_is_zero_when_the_prompt_is_the_negative_prompt(model):
    result = wen_magnitude(model, ["", "a red circle"], first_steps=2, steps=3, generations=2, progress=False)
    assert result.scores[0] == pytest.approx(0, abs=1e-6) and result.scores[1] > 1e-4


def test_bad_step_counts_are_rejected(model):
    with pytest.raises(ValueError, match="until"):
        magnitude_trajectory(model, ["a"], steps=3, until=4, progress=False)
    trajectory = magnitude_trajectory(model, ["a"], steps=3, until=1, generations=1, progress=False)
    with pytest.raises(ValueError, match="first_steps"):
        wen_scores(trajectory, 2)
    with pytest.raises(TypeError, match="list of strings"):
        wen_magnitude(model, "a red circle", progress=False)
