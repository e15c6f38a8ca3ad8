import torch

from copyscope.conditional_noise import first_sampling_timestep, magnitude, magnitude_at
from copyscope.sampling import initial_noise

PROMPTS = ["a red circle", "a blue square at the top"]


def _inputs(model):
    with torch.no_grad():
        return model.encode(PROMPTS), model.encode(["", ""]), initial_noise(model, 2, seed=0)


def test_magnitude_is_each_samples_norm_in_float32_at_least():
    eps_u, eps_c = torch.zeros(2, 1, 2, 2), torch.tensor([3.0, 4.0, 0.0, 0.0]).reshape(1, 1, 2, 2).repeat(2, 1, 1, 1)
    assert magnitude(eps_u, eps_c).tolist() == [5.0, 5.0]
    assert magnitude(eps_u.half(), eps_c.half()).dtype == torch.float32
    assert magnitude(eps_u.double(), eps_c.double()).dtype == torch.float64


def test_magnitude_at_is_each_samples_norm_of_the_prediction_difference(model):
    cond, uncond, x = _inputs(model)
    t = torch.tensor([999, 300])
    with torch.no_grad():
        one = [(x[i:i + 1], int(t[i])) for i in range(2)]
        expected = [(model.eps(*one[i], cond[i:i + 1]) - model.eps(*one[i], uncond[i:i + 1])).pow(2).sum().sqrt()
                    for i in range(2)]
        assert torch.allclose(magnitude_at(model, x, t, cond, uncond), torch.stack(expected), atol=1e-5)
        assert torch.allclose(magnitude_at(model, x, 999, cond, uncond)[0], expected[0], atol=1e-5)


def test_magnitude_at_agrees_with_magnitude_of_the_chunked_predictions_and_is_differentiable(model):
    cond, uncond, x = _inputs(model)
    t = first_sampling_timestep(model)
    with torch.no_grad():
        eps_u, eps_c = model.eps(torch.cat([x, x]), t, torch.cat([uncond, cond])).chunk(2)
    leaf = x.clone().requires_grad_(True)
    at = magnitude_at(model, leaf, t, cond, uncond)
    assert torch.equal(at.detach(), magnitude(eps_u, eps_c))
    (gradient,) = torch.autograd.grad(at.sum(), leaf)
    assert gradient.abs().sum() > 0


def test_first_sampling_timestep_is_the_last_training_timestep(model):
    assert first_sampling_timestep(model) == model.training_scheduler().config.num_train_timesteps - 1
