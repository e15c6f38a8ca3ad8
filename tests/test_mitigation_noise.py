import torch

from copyscope.mitigation.initial_noise import InitialNoiseAdjustment
from copyscope.mitigation.magnitude import conditional_magnitude, first_sampling_timestep
from copyscope.sampling import initial_noise

PROMPTS = ["a red circle", "a blue square at the top"]


def test_conditional_magnitude_is_each_samples_norm_of_the_prediction_difference(model):
    with torch.no_grad():
        cond, uncond = model.encode(PROMPTS), model.encode(["", ""])
        x = initial_noise(model, 2, seed=0)
        t = torch.tensor([999, 300])
        one = [(x[i:i + 1], int(t[i])) for i in range(2)]
        expected = [(model.eps(*one[i], cond[i:i + 1]) - model.eps(*one[i], uncond[i:i + 1])).pow(2).sum().sqrt()
                    for i in range(2)]
        assert torch.allclose(conditional_magnitude(model, x, t, cond, uncond), torch.stack(expected), atol=1e-5)
        assert torch.allclose(conditional_magnitude(model, x, 999, cond, uncond)[0], expected[0], atol=1e-5)


def test_first_sampling_timestep_is_the_last_training_timestep(model):
    assert first_sampling_timestep(model) == model.training_scheduler().config.num_train_timesteps - 1


def test_adjustment_lowers_the_first_step_magnitude_keeps_x_gaussian_like_and_leaves_the_prompt(model):
    with torch.no_grad():
        cond, uncond = model.encode(PROMPTS), model.encode([""]).expand(2, -1, -1)
    x = initial_noise(model, 2, seed=0)
    adjustment = InitialNoiseAdjustment(target=0.0, lr=0.02, max_iters=3)
    same_cond, same_uncond, adjusted = adjustment(model, PROMPTS, cond, uncond, x)
    t = first_sampling_timestep(model)
    before = conditional_magnitude(model, x, t, cond, uncond)
    after = conditional_magnitude(model, adjusted, t, cond, uncond)
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
    before = conditional_magnitude(model, x, t, cond, uncond).detach()
    target = float(before.max() * 0.999)  # only the larger one is above it
    adjustment = InitialNoiseAdjustment(target=target, lr=0.05, max_iters=10)
    adjusted = adjustment(model, PROMPTS, cond, uncond, x)[2]
    low = int(before.argmin())
    assert torch.equal(adjusted[low], x[low]) and adjustment.unet_evaluations[low] == 2
    assert conditional_magnitude(model, adjusted, t, cond, uncond)[1 - low] < target
    assert 2 < adjustment.unet_evaluations[1 - low] < 20
