import numpy as np
import torch

from copyscope.sampling import denoise, generate, initial_noise


def test_generations_are_deterministic_and_independent_of_batch_size(model):
    prompts = ["a red circle", "a blue square", "", "a red circle"]
    a = generate(model, prompts, seed=4, steps=3, guidance=2.0, batch_size=4, progress=False)
    b = generate(model, prompts, seed=4, steps=3, guidance=2.0, batch_size=3, progress=False)
    c = generate(model, prompts, seed=5, steps=3, guidance=2.0, batch_size=4, progress=False)
    assert a.shape == (4, 16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_callback_sees_every_step_and_guidance_can_be_scheduled(model):
    seen = []
    x = initial_noise(model, 2, seed=0)
    emb = model.encode(["a", "b"]).detach()
    empty = model.encode(["", ""]).detach()

    def guidance(i, t, eps_u, eps_c):
        return 0.0 if i < 2 else 3.0

    denoise(model, x, emb, empty, steps=5, guidance=guidance, on_step=lambda i, t, x, u, c: seen.append((i, t)))
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4]
    timesteps = [t for _, t in seen]
    assert timesteps == sorted(timesteps, reverse=True) and timesteps[0] == 999


def test_guidance_zero_ignores_the_prompt(model):
    x = initial_noise(model, 1, seed=0)
    empty = model.encode([""]).detach()
    a = denoise(model, x, model.encode(["a red circle"]).detach(), empty, steps=3, guidance=0.0)
    b = denoise(model, x, model.encode(["a blue ring"]).detach(), empty, steps=3, guidance=0.0)
    assert torch.allclose(a, b)


def test_until_stops_early_and_prepare_can_replace_the_starting_noise(model):
    seen = []
    x = initial_noise(model, 1, seed=0)
    emb, empty = model.encode(["a"]).detach(), model.encode([""]).detach()
    denoise(model, x, emb, empty, steps=6, on_step=lambda i, *_: seen.append(i), until=2)
    assert seen == [0, 1]

    def zero_noise(model, prompts, cond, uncond, x):
        return cond, uncond, torch.zeros_like(x)

    a = generate(model, ["a"], seed=0, steps=3, prepare=zero_noise, progress=False)
    b = model.to_images(denoise(model, torch.zeros_like(x), emb, empty, steps=3))
    assert np.array_equal(a, b)
