import pytest
import torch

from copyscope.conditional_noise import first_sampling_timestep, magnitude_at
from copyscope.mitigation.embedding_noise import EmbeddingNoise, PromptEmbeddingNoise
from copyscope.mitigation.embedding_optimisation import EmbeddingOptimisation
from copyscope.sampling import initial_noise

PROMPTS = ["a red circle", "a blue square at the top", "a green striped triangle", "zorvekka"]


def _inputs(model, n=4, seed=0):
    with torch.no_grad():
        return model.encode(PROMPTS[:n]), model.encode([""]).expand(n, -1, -1), initial_noise(model, n, seed)


def test_training_noise_has_std_lambda_and_nothing_at_zero():
    embeddings = torch.full((64, 16, 16), 3.0)
    noisy = EmbeddingNoise(scale=0.5)(embeddings, torch.Generator().manual_seed(0))
    assert abs((noisy - 3.0).std().item() - 0.5) < 0.01 and abs((noisy - 3.0).mean().item()) < 0.01
    assert torch.equal(EmbeddingNoise(scale=0.0)(embeddings, torch.Generator().manual_seed(0)), embeddings)
    again = EmbeddingNoise(scale=0.5)(embeddings, torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)
    with pytest.raises(ValueError, match="scale"):
        EmbeddingNoise(scale=-1.0)


def test_inference_noise_touches_only_the_conditional_branch_and_ignores_batching(model):
    cond, uncond, x = _inputs(model)
    noise = PromptEmbeddingNoise(scale=0.5, seed=1)
    noisy, same_uncond, same_x = noise(model, PROMPTS, cond, uncond, x)
    assert same_uncond is uncond and same_x is x
    assert abs((noisy - cond).std().item() - 0.5) < 0.02
    halves = torch.cat([noise(model, PROMPTS[:2], cond[:2], uncond[:2], x[:2])[0],
                        noise(model, PROMPTS[2:], cond[2:], uncond[2:], x[2:])[0]])
    assert torch.equal(noisy, halves)
    other_seed = PromptEmbeddingNoise(scale=0.5, seed=2)(model, PROMPTS, cond, uncond, x)[0]
    assert not torch.allclose(noisy, other_seed)
    repeated = noise(model, [PROMPTS[0]] * 2, cond[[0, 0]], uncond[:2], x[:2])[0]
    assert not torch.allclose(repeated[0], repeated[1])  # each generation of a prompt gets its own noise


def test_embedding_optimisation_meets_the_per_image_target_or_uses_every_iteration(model):
    cond, uncond, x = _inputs(model)
    t = first_sampling_timestep(model)
    before = magnitude_at(model, x, t, cond, uncond).detach()
    target = float(before.median())
    optimisation = EmbeddingOptimisation(target=target, max_iters=3)
    optimised, same_uncond, same_x = optimisation(model, PROMPTS, cond, uncond, x)
    after = magnitude_at(model, x, t, optimised, uncond).detach()
    evaluations = torch.tensor(optimisation.unet_evaluations) - 1  # one cached unconditional pass per image
    assert same_uncond is uncond and same_x is x
    for i in range(4):
        if before[i] < target:  # already below: one evaluation, untouched
            assert evaluations[i] == 1 and torch.equal(optimised[i], cond[i])
        elif evaluations[i] < 3:
            assert after[i] < target
        else:
            assert after[i] < before[i]
    assert (evaluations > 1).any()
    assert torch.equal(optimised[:, 0], cond[:, 0])  # the start token's output stays


def test_embedding_optimisation_does_not_depend_on_the_batch_size(model):
    cond, uncond, x = _inputs(model, n=2)
    together = EmbeddingOptimisation(target=0.0, max_iters=3)(model, PROMPTS[:2], cond, uncond, x)[0]
    for i in range(2):
        alone = EmbeddingOptimisation(target=0.0, max_iters=3)(model, [PROMPTS[i]], cond[i:i + 1],
                                                                uncond[i:i + 1], x[i:i + 1])[0]
        assert torch.allclose(alone[0], together[i], atol=1e-4)  # float rounding of batched convolutions
    assert not torch.allclose(together, cond)
