import numpy as np
import pytest
import torch

from copyscope import config
from copyscope.models.text_to_image import TextToImage, build_pixel_model
from tests.conftest import tiny_model


def test_save_load_round_trip_predicts_the_same(tmp_path, model):
    x = torch.randn(2, 3, 16, 16)
    emb = model.encode(["a red circle", ""])
    with torch.no_grad():
        before = model.eps(x, 500, emb)
    model.save(tmp_path / "m")
    again = TextToImage.load(tmp_path / "m")
    with torch.no_grad():
        after = again.eps(x, 500, again.encode(["a red circle", ""]))
    assert torch.allclose(before, after, atol=1e-6)
    assert again.resolution == 16 and again.latent_shape == (3, 16, 16)
    assert again.tokenizer.model_max_length == model.tokenizer.model_max_length


def test_models_saved_with_the_same_tokenizer_share_one_loaded_copy(tmp_path, model):
    other = build_pixel_model(16, [8, 16], attention_head_dim=4, text_width=16, text_layers=1, text_heads=2,
                              max_length=17)
    for name, saved in (("a", model), ("b", model), ("c", other)):
        saved.save(tmp_path / name)
    a, b, c = (TextToImage.load(tmp_path / name).tokenizer for name in "abc")
    assert a is b
    assert c is not a and c.model_max_length == a.model_max_length + 1


def test_loading_a_folder_that_is_not_a_model_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved copyscope model"):
        TextToImage.load(tmp_path)


def test_images_round_trip_through_latents(model):
    images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    assert np.array_equal(model.to_images(model.to_latents(images)), images)


def test_v_prediction_is_converted_to_epsilon():
    model = tiny_model("v_prediction")
    x0, noise = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    t = torch.tensor([10, 300, 600, 990])
    x_t = model.training_scheduler().add_noise(x0, noise, t)
    v = model.training_target(x0, noise, t)
    assert torch.allclose(v, model.training_scheduler().get_velocity(x0, noise, t), atol=1e-5)
    model.unet.forward = lambda x, t, encoder_hidden_states: type("Out", (), {"sample": v})
    assert torch.allclose(model.eps(x_t, t, None), noise, atol=1e-4)


def test_resolution_must_suit_the_unet_depth():
    with pytest.raises(ValueError, match="divisible"):
        build_pixel_model(18, [8, 16, 16])


def test_same_seed_same_initial_weights():
    a, b = tiny_model(seed=1), tiny_model(seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.unet.parameters(), b.unet.parameters()))


def test_the_embedded_models_use_stable_diffusions_schedule():
    """DDPM scaled_linear beta 0.00085-0.012 over 1000 steps, epsilon-prediction: at t = 999 sqrt(alpha_bar) is
    about 0.068, so the first sampling step still carries text signal (squaredcos_cap_v2 leaves 5e-5)."""
    arch = config.load("default").architecture
    model = build_pixel_model(16, **arch.model_dump())
    scheduler = model.training_scheduler()
    assert scheduler.config.beta_schedule == "scaled_linear" and scheduler.config.num_train_timesteps == 1000
    assert scheduler.config.beta_start == 0.00085 and scheduler.config.beta_end == 0.012
    assert model.prediction_type == "epsilon"
    assert abs(float(scheduler.alphas_cumprod[999].sqrt()) - 0.068) < 0.002
