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


def test_empty_prompts_take_one_unet_pass_per_step_and_sample_the_unconditional_chain(model):
    x = initial_noise(model, 3, seed=0)
    empty = model.encode([""]).detach().expand(3, -1, -1)
    rows = []
    handle = model.unet.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[0]))
    one_pass = denoise(model, x, empty, empty, steps=4, guidance=2.0)
    handle.remove()
    assert rows == [3] * 4
    # the guided pair at guidance 0 follows ε(x, ∅) alone: the same chain, in two-row batches
    pair = denoise(model, x, model.encode(["a red circle"] * 3).detach(), empty, steps=4, guidance=0.0)
    assert torch.allclose(one_pass, pair, atol=1e-5)
    images = generate(model, ["", "", ""], seed=0, steps=4, guidance=2.0, progress=False)
    assert np.array_equal(images, model.to_images(one_pass))
