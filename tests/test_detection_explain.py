import numpy as np
import pytest
import torch

from copyscope.detection.explain import TokenSignificance, edit_prompt, magnitude_and_gradient, token_significance
from copyscope.detection.magnitude import wen_magnitude
from copyscope.models.tokenizer import word_tokens
from copyscope.sampling import initial_noise


def test_gradient_matches_finite_differences_on_the_prompt_embeddings(model):
    model.unet.double()
    embeddings = model.encode(["a red circle"]).detach().double()
    negative = model.encode([""]).detach().double()
    noise = initial_noise(model, 2, seed=0).double()
    magnitude, gradient = magnitude_and_gradient(model, embeddings, negative, noise, 999)
    with torch.no_grad():
        eps_u = model.eps(noise, 999, negative.expand(2, -1, -1))
        eps_c = model.eps(noise, 999, embeddings.expand(2, -1, -1))

    def loss(e):
        with torch.no_grad():
            return magnitude_and_gradient(model, e, negative, noise, 999)[0].item()

    assert magnitude.item() == pytest.approx((eps_c - eps_u).flatten(1).norm(dim=1).mean().item(), rel=1e-10)
    h = 1e-5
    for token in (2, 4):  # "red", and the end token
        direction = torch.zeros_like(embeddings)
        direction[0, token] = gradient[0, token] / gradient[0, token].norm()
        slope = (loss(embeddings + h * direction) - loss(embeddings - h * direction)) / (2 * h)
        assert slope == pytest.approx(gradient[0, token].norm().item(), rel=1e-5)


def test_significance_covers_the_real_tokens_and_explains_the_first_step_magnitude(model):
    prompts = ["a red circle", "two small blue squares", ""]
    a = token_significance(model, prompts, generations=2, steps=4, seed=1, batch_size=2, progress=False)
    b = token_significance(model, prompts, generations=2, steps=4, seed=1, batch_size=3, progress=False)
    assert a[0].tokens == ["<|startoftext|>", "a", "red", "circle", "<|endoftext|>"]
    assert [len(r.significance) for r in a] == [5, 6, 2]
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.significance, y.significance, rtol=1e-5)
    assert np.all(a[0].significance > 0) and np.all(a[2].significance == 0)  # "" is the negative prompt: L = 0
    wen = wen_magnitude(model, prompts, first_steps=1, steps=4, generations=2, seed=1, progress=False)
    np.testing.assert_allclose([r.magnitude for r in a], wen.scores, rtol=1e-5, atol=1e-9)


def test_edit_drops_or_replaces_the_most_significant_words(model):
    ids = model.tokenize(["a red circle"])[0, :5].tolist()
    significance = TokenSignificance("a red circle", ids, ["<|startoftext|>", "a", "red", "circle", "<|endoftext|>"],
                                     np.array([9.0, 1.0, 5.0, 2.0, 8.0]), magnitude=1.0)
    assert significance.top(2) == [2, 3]  # the beginning and end tokens are never picked
    assert edit_prompt(model.tokenizer, significance, k=1) == "a circle"
    assert edit_prompt(model.tokenizer, significance, k=2) == "a"
    replaced = edit_prompt(model.tokenizer, significance, k=1, mode="replace", seed=7)
    first, word, last = replaced.split(" ")
    assert (first, last) == ("a", "circle") and word in word_tokens() and word != "red"
    assert replaced == edit_prompt(model.tokenizer, significance, k=1, mode="replace", seed=7)
    with pytest.raises(ValueError, match="mode"):
        edit_prompt(model.tokenizer, significance, mode="swap")
    with pytest.raises(ValueError, match="k must"):
        edit_prompt(model.tokenizer, significance, k=0)
