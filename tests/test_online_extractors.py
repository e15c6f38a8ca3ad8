"""The downloaded-weights extractors, exercised with tiny random stand-ins saved in the exact on-disk formats."""
import json

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF
from transformers import ViTConfig, ViTModel

from copyscope.downloads import MissingWeights
from copyscope.embed.online import load_open_clip
from copyscope.embed.registry import get_extractor

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture
def downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("COPYSCOPE_DOWNLOADS", str(tmp_path))
    return tmp_path


def _manual(images, size, interpolation, mean, std):
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = TF.resize(x, [size, size], interpolation=interpolation, antialias=True)
    return TF.normalize(x, mean, std)


class _TinySSCD(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=4)
        self.fc = torch.nn.Linear(8, 6)

    def forward(self, x):
        return F.normalize(self.fc(self.conv(x).mean(dim=(2, 3))), dim=1)


def test_sscd_loads_torchscript_and_uses_the_readme_preprocessing(downloads, shapes):
    torch.manual_seed(0)
    scripted = torch.jit.script(_TinySSCD())
    (downloads / "sscd").mkdir()
    torch.jit.save(scripted, downloads / "sscd" / "sscd_disc_mixup.torchscript.pt")
    extractor = get_extractor("sscd_disc_mixup", device="cpu")
    images = shapes.images[:3]
    expected = scripted(_manual(images, 288, InterpolationMode.BILINEAR, *IMAGENET)).detach().numpy()
    assert np.allclose(extractor(images), expected, atol=1e-5)
    assert extractor.preprocessing["resize"] == [288, 288] and extractor.preprocessing["mean"] == IMAGENET[0]


def test_missing_sscd_weights_say_what_to_download_and_where(downloads):
    with pytest.raises(MissingWeights) as error:
        get_extractor("sscd_disc_large")
    message = str(error.value)
    assert "sscd_disc_large.torchscript.pt" in message and str(downloads / "sscd") in message
    assert "https://dl.fbaipublicfiles.com/sscd-copy-detection/sscd_disc_large.torchscript.pt" in message
    assert isinstance(error.value, FileNotFoundError)


def test_dino_reads_a_saved_vit_and_gives_cls_and_patch_tokens(downloads, shapes):
    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32)
    model = ViTModel(config, add_pooling_layer=False).eval()
    model.save_pretrained(downloads / "dino-vitb16")
    extractor = get_extractor("dino_vitb16", device="cpu")
    images = shapes.images[:3]
    with torch.no_grad():
        hidden = model(pixel_values=_manual(images, 32, InterpolationMode.BICUBIC, *IMAGENET)).last_hidden_state
    assert np.allclose(extractor(images), F.normalize(hidden[:, 0], dim=1).numpy(), atol=1e-5)
    assert np.allclose(extractor.tokens(images), hidden[:, 1:].numpy(), atol=1e-5)
    assert extractor.tokens(images).shape == (3, 16, 16)
    assert extractor.preprocessing["interpolation"] == "bicubic"


def test_missing_dino_names_the_hub_id(downloads):
    with pytest.raises(MissingWeights) as error:
        get_extractor("dino_vitb16")
    assert "facebook/dino-vitb16" in str(error.value) and str(downloads / "dino-vitb16") in str(error.value)


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip")
    (folder / "copyscope-tiny-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder / "copyscope-tiny-clip.json")
    torch.manual_seed(0)
    model = open_clip.create_model("copyscope-tiny-clip")
    torch.save(model.state_dict(), folder / "weights.pt")
    return folder / "weights.pt"


def test_open_clip_loader_returns_model_preprocess_and_tokenizer(tiny_clip):
    model, preprocess, tokenizer = load_open_clip("copyscope-tiny-clip", tiny_clip, tag=None, device="cpu")
    reference = open_clip.create_model("copyscope-tiny-clip")
    assert torch.equal(model.visual.conv1.weight, torch.load(tiny_clip)["visual.conv1.weight"])
    assert not torch.equal(model.visual.conv1.weight, reference.visual.conv1.weight)  # weights came from the file
    ids = tokenizer(["a red circle", "a blue square"])
    assert ids.shape == (2, 12)
    with torch.no_grad():
        assert model.encode_text(ids).shape == (2, 16)
    assert preprocess(Image.new("RGB", (20, 20))).shape == (3, 32, 32)


def test_clip_extractor_uses_open_clips_own_preprocessing(tiny_clip, shapes):
    extractor = get_extractor("clip_vitb32", arch="copyscope-tiny-clip", checkpoint=tiny_clip, tag=None,
                              device="cpu")
    images = shapes.images[:3]
    with torch.no_grad():
        batch = torch.stack([extractor.preprocess(Image.fromarray(i)) for i in images])
        expected = F.normalize(extractor.model.encode_image(batch), dim=1).numpy()
    assert np.allclose(extractor(images), expected, atol=1e-5)
    steps = " ".join(extractor.preprocessing["open_clip"])
    assert "Resize" in steps and "Normalize" in steps and extractor.preprocessing["size"] == (32, 32)


def test_missing_clip_weights_name_the_hub_repository(downloads):
    with pytest.raises(MissingWeights) as error:
        get_extractor("clip_vitb32")
    message = str(error.value)
    assert "laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in message and "open_clip_pytorch_model.bin" in message
    assert str(downloads / "open_clip" / "ViT-B-32-laion2b_s34b_b79k") in message
    with pytest.raises(ValueError, match="no pretrained tag"):
        load_open_clip("ViT-B-32", tag="made_up")
