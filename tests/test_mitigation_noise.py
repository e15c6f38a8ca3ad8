import torch

from copyscope.conditional_noise import first_sampling_timestep, magnitude_at
from copyscope.mitigation.initial_noise import InitialNoiseAdjustment
from copyscope.sampling import initial_noise

PROMPTS = ["a red circle", "a blue square at the top"]


def test_adjustment_lowers_the_first_step_magnitude_keeps_x_gaussian_like_and_leaves_the_prompt(model):
    with torch.no_grad():
        cond, uncond = model.encode(PROMPTS), model.encode([""]).expand(2, -1, -1)
    x = initial_noise(model, 2, seed=0)
    adjustment = InitialNoiseAdjustment(target=0.0, lr=0.02, max_iters=3)
    same_cond, same_uncond, adjusted = adjustment(model, PROMPTS, cond, uncond, x)
    t = first_sampling_timestep(model)
    before = magnitude_at(model, x, t, cond, uncond)
    after = magnitude_at(model, adjusted, t, cond, uncond)
    assert same_cond is cond and same_uncond is uncond
    assert (after < 0.9 * before).all()
    std = adjusted.flatten(1).std(dim=1)
    assert ((std - 1).abs() < 0.1).all() and ((std - x.flatten(1).std(dim=1)).abs() < 0.05).all()
    assert adjustment.unet_evaluations == [6, 6]  # 3 evaluations of both predictions


def test_adjustment_stops_at_the_per_image_target(model):
    with torch.no_grad():
        cond, uncond = model.encode(PROMPTS), model.encode([""]).expand(2, -1, -1)
    x = initial_noise(model, 2, seed=0)
    t = first_sampling_timestep(model)
    before = magnitude_at(model, x, t, cond, uncond).detach()
    target = float(before.max() * 0.999)  # only the larger one is above it
    adjustment = InitialNoiseAdjustment(target=target, lr=0.05, max_iters=10)
    adjusted = adjustment(model, PROMPTS, cond, uncond, x)[2]
    low = int(before.argmin())
    assert torch.equal(adjusted[low], x[low]) and adjustment.unet_evaluations[low] == 2
    assert magnitude_at(model, adjusted, t, cond, uncond)[1 - low] < target
    assert 2 < adjustment.unet_evaluations[1 - low] < 20
