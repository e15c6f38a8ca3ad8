"""The first-step detectors built on ε_c − ε_u: Jeon et al.'s sharpness and Asthana & Belagiannis' anisotropy."""
import numpy as np
import pytest
import torch

from copyscope.detection.anisotropy import anisotropy_scores, guidance_alignment
from copyscope.detection.sharpness import hessian_score_product, sharpness_scores
from copyscope.sampling import initial_noise

PROMPTS = ["a red circle", "a small blue square", "two green rings"]


def _inputs(model, prompts, generations, seed):
    x = initial_noise(model, len(prompts) * generations, seed)
    cond = model.encode(prompts).detach().repeat_interleave(generations, dim=0)
    return x, cond, model.encode([""]).detach().expand(len(x), -1, -1)


def test_hessian_score_product_matches_central_finite_differences(model):
    model.unet.double()
    x, cond, uncond = (t.double() for t in _inputs(model, PROMPTS[:2], 1, seed=0))
    t = 999
    s_delta, product = hessian_score_product(model, x, t, cond, uncond)
    sigma = (1 - model.training_scheduler().alphas_cumprod[t].double()).sqrt()
    with torch.no_grad():
        eps_u, eps_c = model.eps(x, t, uncond), model.eps(x, t, cond)
        torch.testing.assert_close(s_delta, -(eps_c - eps_u) / sigma)
        h = 1e-4
        plus, minus = x + h * s_delta, x - h * s_delta
        difference = (model.eps(plus, t, uncond) - model.eps(plus, t, cond)
                      - model.eps(minus, t, uncond) + model.eps(minus, t, cond)) / sigma / (2 * h)
    torch.testing.assert_close(product, difference, rtol=1e-5, atol=1e-9)
    assert product.abs().max() > 1e-6


def test_sharpness_is_the_squared_norm_of_the_product_and_zero_without_text(model):
    result = sharpness_scores(model, PROMPTS, generations=2, seed=3, batch_size=2, progress=False)
    again = sharpness_scores(model, PROMPTS, generations=2, seed=3, batch_size=3, progress=False)
    np.testing.assert_allclose(result.scores, again.scores, rtol=1e-5)
    x, cond, uncond = _inputs(model, PROMPTS, 2, seed=3)
    _, product = hessian_score_product(model, x, 999, cond, uncond)
    expected = (product ** 2).sum(dim=(1, 2, 3)).reshape(3, 2).mean(dim=1).numpy()
    np.testing.assert_allclose(result.scores, expected, rtol=1e-5)
    assert result.unet_evals_per_prompt == 8 and result.steps == 1
    zero = sharpness_scores(model, ["", "a red circle"], progress=False)
    assert zero.scores[0] == pytest.approx(0, abs=1e-12) and zero.scores[1] > 0


def test_alignment_is_the_pixelwise_cosine_of_the_unconditional_and_guidance_directions():
    eps_u = torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1).repeat(3, 1, 1, 1)
    eps_c = torch.tensor([[2.0, 0.0], [1.0, 1.0], [0.0, 0.0]]).reshape(3, 2, 1, 1)
    torch.testing.assert_close(guidance_alignment(eps_u, eps_c), torch.tensor([1.0, 0.0, -1.0]))
    assert guidance_alignment(eps_u, eps_u).abs().max() == 0  # no guidance direction: cosine taken as 0


def test_anisotropy_combines_the_first_step_norm_and_the_low_noise_alignment(model):
    result = anisotropy_scores(model, PROMPTS, generations=2, steps=10, seed=5, norm_weight=0.5,
                               cosine_weight=3.0, batch_size=2, progress=False)
    again = anisotropy_scores(model, PROMPTS, generations=2, steps=10, seed=5, norm_weight=0.5,
                              cosine_weight=3.0, batch_size=1, progress=False)
    np.testing.assert_allclose(result.scores, again.scores, rtol=1e-5)
    assert result.details["timesteps"] == (999, 299) and result.unet_evals_per_prompt == 8
    x, cond, uncond = _inputs(model, PROMPTS, 2, seed=5)
    with torch.no_grad():
        norm = (model.eps(x, 999, cond) - model.eps(x, 999, uncond)).flatten(1).norm(dim=1)
        eps_u, eps_c = model.eps(x, 299, uncond), model.eps(x, 299, cond)
    direction = eps_c - eps_u
    cosine = (eps_u * direction).sum(1) / (eps_u.norm(dim=1) * direction.norm(dim=1))
    expected = 0.5 * norm.reshape(3, 2).mean(1) + 3.0 * cosine.mean(dim=(1, 2)).reshape(3, 2).mean(1)
    np.testing.assert_allclose(result.scores, expected.numpy(), rtol=1e-4)
    zero = anisotropy_scores(model, ["", "a red circle"], progress=False)
    assert zero.scores[0] == pytest.approx(0, abs=1e-6) and zero.scores[1] != 0
    with pytest.raises(ValueError, match="cosine_step"):
        anisotropy_scores(model, ["a"], steps=2, cosine_step=-3, progress=False)
