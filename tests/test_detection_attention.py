import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from copyscope.detection.attention import CrossAttentionRecorder, cross_attention_layers
from copyscope.detection.attention_entropy import attention_entropy, ren_entropy_scores
from copyscope.detection.bright_ending import (
    bright_ending_scores,
    end_token_positions,
    mask_layers,
    masked_magnitude,
)
from copyscope.detection.magnitude import wen_magnitude
from copyscope.sampling import denoise, initial_noise

PROMPTS = ["a red circle", "a small blue square", "two green rings"]
DOWN = "down_blocks.1.attentions.0.transformer_blocks.0.attn2"


def _uniform_attention(model):
    """Zero every cross-attention query: softmax(QKᵀ) becomes uniform over the text tokens."""
    for name in cross_attention_layers(model.unet):
        model.unet.get_submodule(name).to_q.weight.data.zero_()
    return model


def test_recorded_probabilities_match_a_hand_computation_and_leave_the_output_unchanged(model):
    module = model.unet.get_submodule(DOWN)
    inputs = {}

    def keep_inputs(module, args, kwargs):
        inputs.update(h=args[0], e=kwargs["encoder_hidden_states"])

    module.register_forward_pre_hook(keep_inputs, with_kwargs=True)
    x, emb = initial_noise(model, 2, seed=0), model.encode(["a red circle", "b"]).detach()
    with torch.no_grad():
        plain = model.eps(x, 500, emb)
        with CrossAttentionRecorder(model.unet, reduce=lambda p: p) as recorder:
            recorded = model.eps(x, 500, emb)
    torch.testing.assert_close(recorded, plain)
    q, k = inputs["h"] @ module.to_q.weight.T, inputs["e"] @ module.to_k.weight.T
    heads = module.heads

    def split(t):
        return t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)

    expected = torch.softmax(split(q) @ split(k).transpose(-1, -2) / math.sqrt(q.shape[-1] // heads), dim=-1)
    torch.testing.assert_close(recorder.records[DOWN], expected)
    assert list(recorder.records) == [DOWN, "mid_block.attentions.0.transformer_blocks.0.attn2",
                                      "up_blocks.0.attentions.0.transformer_blocks.0.attn2",
                                      "up_blocks.0.attentions.1.transformer_blocks.0.attn2"]  # execution order


def test_original_processors_come_back_even_after_an_error(model):
    before = model.unet.attn_processors
    with pytest.raises(RuntimeError, match="boom"):
        with CrossAttentionRecorder(model.unet, reduce=lambda p: p, layers=[DOWN], active=False) as recorder:
            assert type(model.unet.attn_processors[f"{DOWN}.processor"]).__name__ == "_RecordingProcessor"
            model.eps(initial_noise(model, 1, 0), 10, model.encode(["a"]).detach())
            assert recorder.records == {}  # inactive: nothing kept
            raise RuntimeError("boom")
    after = model.unet.attn_processors
    assert before.keys() == after.keys() and all(before[k] is after[k] for k in before)
    with pytest.raises(ValueError, match="not cross-attention"):
        CrossAttentionRecorder(model.unet, reduce=lambda p: p, layers=["down_blocks.1.attentions.0"])


def test_entropy_is_zero_for_a_point_mass_and_log_n_for_uniform():
    p = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    torch.testing.assert_close(attention_entropy(p), torch.tensor([0.0, math.log(2), 1.5 * math.log(2)]))


def test_ren_entropy_reads_the_first_step_conditional_attention(model):
    a = ren_entropy_scores(model, PROMPTS, generations=2, seed=1, batch_size=2, progress=False)
    b = ren_entropy_scores(model, PROMPTS, generations=2, seed=1, batch_size=3, progress=False)
    assert a.scores.shape == (3,) and a.unet_evals_per_prompt == 2 and a.steps == 1
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6)
    assert len(a.details["layers"]) == 4
    # by hand for one layer: entropy of the head-and-pixel mean of the conditional attention on x_T at t = 999
    with torch.no_grad(), CrossAttentionRecorder(model.unet, reduce=lambda p: p) as recorder:
        model.eps(initial_noise(model, 6, seed=1), 999, model.encode(PROMPTS).repeat_interleave(2, dim=0))
    mean = recorder.records[DOWN].mean(dim=(1, 2)).double()
    expected = (-(mean * mean.log()).sum(dim=1)).reshape(3, 2).mean(dim=1).numpy()
    layer0 = ren_entropy_scores(model, PROMPTS, generations=2, seed=1, layers=[0], progress=False)
    np.testing.assert_allclose(layer0.scores, expected, rtol=1e-5)
    uniform = ren_entropy_scores(_uniform_attention(model), PROMPTS, progress=False)
    np.testing.assert_allclose(uniform.scores, math.log(model.tokenizer.model_max_length), rtol=1e-6)
    with pytest.raises(ValueError, match="layers"):
        ren_entropy_scores(model, PROMPTS, layers=[4], progress=False)


def test_end_token_and_mask_layer_choice(model):
    assert end_token_positions(model, ["a red circle", "", "blue"]).tolist() == [4, 1, 2]
    assert mask_layers(model) == [DOWN]


def test_masked_magnitude_is_the_norm_of_the_masked_difference_over_the_mean_mask():
    rng = torch.Generator().manual_seed(0)
    d, m = torch.randn(3, 4, 5, 5, generator=rng), torch.rand(3, 5, 5, generator=rng)
    expected = (d * m[:, None]).flatten(1).norm(dim=1) / m.mean(dim=(1, 2))
    torch.testing.assert_close(masked_magnitude((d ** 2).sum(dim=1), m), expected)


def test_bright_ending_masks_with_the_final_step_end_token_attention(model):
    steps, guidance = 3, 2.0
    result = bright_ending_scores(model, PROMPTS[:2], generations=2, steps=steps, guidance=guidance, seed=2,
                                  batch_size=1, progress=False)
    other = bright_ending_scores(model, PROMPTS[:2], generations=2, steps=steps, guidance=guidance, seed=2,
                                 batch_size=2, progress=False)
    np.testing.assert_allclose(result.scores, other.scores, rtol=1e-5)
    assert result.unet_evals_per_prompt == 2 * steps * 2 and result.details["masks"].shape == (2, 2, 16, 16)
    # the final step by hand: its x_t, the conditional end-token attention, head mean, resized to 16 x 16
    cond = model.encode(PROMPTS[:2]).repeat_interleave(2, dim=0)
    uncond = model.encode([""]).expand(4, -1, -1)
    last = {}
    denoise(model, initial_noise(model, 4, seed=2), cond, uncond, steps, guidance,
            on_step=lambda i, t, x, u, c: last.update(x=x, t=t))
    with torch.no_grad(), CrossAttentionRecorder(model.unet, reduce=lambda p: p, layers=[DOWN]) as recorder:
        model.eps(torch.cat([last["x"], last["x"]]), last["t"], torch.cat([uncond, cond]))
    end = recorder.records[DOWN][4:].mean(dim=1)[torch.arange(4), :, torch.tensor([4, 4, 5, 5])]
    expected = F.interpolate(end.reshape(4, 1, 8, 8), size=(16, 16), mode="bilinear")[:, 0]
    np.testing.assert_allclose(result.details["masks"].reshape(4, 16, 16), expected.numpy(), rtol=1e-4)


def test_bright_ending_is_zero_without_text_and_is_the_plain_magnitude_under_a_flat_mask(model):
    zero = bright_ending_scores(model, ["", "a red circle"], generations=1, steps=2, progress=False)
    assert zero.scores[0] == pytest.approx(0, abs=1e-6) and zero.scores[1] > 1e-4
    flat = _uniform_attention(model)
    be = bright_ending_scores(flat, PROMPTS[:2], generations=2, steps=3, seed=4, progress=False)
    wen = wen_magnitude(flat, PROMPTS[:2], first_steps=3, steps=3, generations=2, seed=4, progress=False)
    np.testing.assert_allclose(be.scores, wen.scores, rtol=1e-5)
