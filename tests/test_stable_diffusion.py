"""The Stable Diffusion loader, on a tiny randomly initialised pipeline saved in the real diffusers layout."""
import shutil

import numpy as np
import pytest
import torch

from copyscope.downloads import MissingWeights
from copyscope.models.stable_diffusion import load_stable_diffusion
from copyscope.sampling import generate
from tests.sd_fakes import save_tiny_pipeline


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny-sd", prediction_type="v_prediction")


def test_loads_a_diffusers_folder_into_the_shared_interface(tiny_sd):
    model = load_stable_diffusion(tiny_sd)
    assert model.resolution == 16 and model.latent_shape == (4, 8, 8)
    assert model.prediction_type == "v_prediction"
    images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    with torch.no_grad():
        latents = model.to_latents(images)
        assert latents.shape == (2, 4, 8, 8)
        assert model.eps(latents, 10, model.encode(["a", "b"])).shape == latents.shape
    out = generate(model, ["a photo", ""], seed=0, steps=2, guidance=7.5, progress=False)
    assert out.shape == (2, 16, 16, 3) and out.dtype == np.uint8


def test_missing_weights_say_what_to_download_and_where(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("COPYSCOPE_DOWNLOADS", str(tmp_path / "downloads"))
    with pytest.raises(MissingWeights) as err:
        load_stable_diffusion("sd-v1-4")
    message = str(err.value)
    assert "CompVis/stable-diffusion-v1-4" in message and "hf download" in message
    assert str(tmp_path / "downloads" / "sd-v1-4") in message


def test_a_missing_folder_is_named_as_missing(tmp_path):
    for source in (tmp_path / "nowhere", f"{tmp_path}/nowhere", "./nowhere/sd"):
        with pytest.raises(MissingWeights, match="does not exist") as err:
            load_stable_diffusion(source)
        assert "nowhere" in str(err.value) and "diffusers-format pipeline folder" in str(err.value)


def test_an_empty_folder_is_named_with_everything_it_lacks(tmp_path):
    with pytest.raises(MissingWeights) as err:
        load_stable_diffusion(tmp_path)
    message = str(err.value)
    assert f"{tmp_path} lacks model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/;" in message
    assert f"hf download CompVis/stable-diffusion-v1-4 --local-dir {tmp_path}" in message


def test_a_folder_missing_a_component_names_that_component(tiny_sd, tmp_path):
    folder = tmp_path / "partial"
    shutil.copytree(tiny_sd, folder)
    shutil.rmtree(folder / "text_encoder")
    with pytest.raises(MissingWeights) as err:
        load_stable_diffusion(folder)
    message = str(err.value)
    assert f"{folder} lacks text_encoder/;" in message and "diffusers-format pipeline folder" in message
    assert "model_index.json" not in message.split(";")[0]


def test_every_detector_and_inference_mitigation_runs_on_the_stable_diffusion_layout(tiny_sd):
    """The paper-scale path's plumbing on the stand-in: VAE latents, a cross-attention UNet, SD's scheduler layout
    (v-prediction here). Not the science: the weights are random."""
    from copyscope.mitigation.factory import INFERENCE, inference_mitigation
    from tests.test_detection_common import _every_detector

    model, prompts = load_stable_diffusion(tiny_sd), ["a photo of a cat", "an oil painting"]
    for result in _every_detector(model, prompts, seed=0):
        assert result.scores.shape == (2,) and np.isfinite(result.scores).all(), result.method
    rng = np.random.default_rng(0)
    for name in INFERENCE:
        mitigation = inference_mitigation(name, **({"max_iters": 2} if name in (
            "embedding_optimisation", "initial_noise") else {}))
        images = generate(model, mitigation.prompts(prompts, rng), seed=0, steps=2,
                          guidance=mitigation.guidance(7.5), prepare=mitigation.prepare, progress=False)
        assert images.shape == (2, 16, 16, 3) and images.dtype == np.uint8, name
