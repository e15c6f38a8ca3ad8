import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from copyscope.config import CopyDetectorConfig
from copyscope.embed.copy_detector import (CopyDetector, _lr_factor, copy_view, info_nce,
                                           koleo, train_and_save, train_copy_detector)
from copyscope.embed.registry import get_extractor


TINY = CopyDetectorConfig(steps=4, batch_size=6, lr=1e-2, warmup_steps=1, dim=8, width=4, image_size=16, seed=3)


def _unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_info_nce_matches_a_brute_force_sum():
    z1, z2, tau = _unit(4, 5, 0), _unit(4, 5, 1), 0.3
    z = torch.cat([z1, z2])
    total = 0.0
    for i in range(8):
        partner = (i + 4) % 8
        logits = [float(z[i] @ z[j]) / tau for j in range(8) if j != i]
        total += -(float(z[i] @ z[partner]) / tau - math.log(sum(math.exp(v) for v in logits)))
    assert info_nce(z1, z2, tau).item() == pytest.approx(total / 8, rel=1e-5)


def test_koleo_uses_the_nearest_non_matching_view():
    z1, z2 = _unit(3, 4, 2), _unit(3, 4, 3)
    z = torch.cat([z1, z2])
    losses = []
    for i in range(6):
        others = [j for j in range(6) if j % 3 != i % 3]
        losses.append(-math.log(min(float((z[i] - z[j]).norm()) for j in others)))
    assert koleo(z1, z2).item() == pytest.approx(np.mean(losses), abs=1e-5)


def _donor_fraction(view, donors):
    return (view == donors).all(dim=1).flatten(1).float().mean(dim=1)


def test_copy_view_pastes_donor_content_only_as_configured():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 3, 16, 16, generator=g)
    donors = torch.full_like(x, 0.123)  # a value augmentations of x never produce exactly
    ones, zeros = torch.ones(32, 1, 16, 16), torch.zeros(32, 1, 16, 16)
    never = CopyDetectorConfig(p_cutmix=0, p_segmix=0)
    assert _donor_fraction(copy_view(x, ones, donors, g, never), donors).max() == 0
    cutmix = CopyDetectorConfig(p_cutmix=1.0, p_segmix=0)
    fraction = _donor_fraction(copy_view(x, None, donors, g, cutmix), donors)
    assert fraction.min() >= 0.25 and fraction.max() <= 0.75
    segmix = CopyDetectorConfig(p_cutmix=0, p_segmix=1.0)
    for masks in (ones, zeros):  # objects everywhere, or no object in view: nothing to paste around
        assert _donor_fraction(copy_view(x, masks, donors, g, segmix), donors).max() == 0
    half = torch.cat([ones[..., :8], zeros[..., 8:]], dim=-1)
    assert _donor_fraction(copy_view(x, half, donors, g, segmix), donors).mean() > 0.2


def test_training_is_seeded_and_loss_falls(shapes):
    a = train_copy_detector(shapes.images, shapes.masks, TINY, progress=False, device="cpu")
    b = train_copy_detector(shapes.images, shapes.masks, TINY, progress=False, device="cpu")
    c = train_copy_detector(shapes.images, shapes.masks, CopyDetectorConfig(**{**TINY.__dict__, "seed": 4}),
                            progress=False, device="cpu")
    for name, tensor in a.network.state_dict().items():
        assert torch.equal(tensor, b.network.state_dict()[name]), name
    assert not torch.equal(a.network.head.weight, c.network.head.weight)
    longer = train_copy_detector(shapes.images, None, CopyDetectorConfig(**{**TINY.__dict__, "steps": 30}),
                                 progress=False, device="cpu")
    losses = [r["info_nce"] for r in longer.training["log"]]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_detector_embeds_saves_and_loads(shapes, tmp_path):
    detector = train_and_save(shapes.images, shapes.masks, TINY, tmp_path / "detector", progress=False)
    e = detector(shapes.images)
    assert e.shape == (len(shapes), TINY.dim) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert detector.tokens(shapes.images).shape == (len(shapes), (16 // 8) ** 2, 8 * TINY.width)
    assert detector.preprocessing["resize"] == [16, 16] and detector.preprocessing["mean"] == [0.5, 0.5, 0.5]
    assert sorted(p.name for p in (tmp_path / "detector").iterdir()) == ["config.json", "weights.pt"]
    record = json.loads((tmp_path / "detector" / "config.json").read_text())
    assert record["config"]["dim"] == TINY.dim and len(record["training"]["log"]) == TINY.steps
    loaded = get_extractor("copy_detector", path=tmp_path / "detector", device="cpu")
    assert loaded.config == TINY and np.allclose(loaded(shapes.images), e, atol=1e-6)
    with pytest.raises(FileNotFoundError, match="train_and_save"):
        CopyDetector.load(tmp_path / "nothing")


def test_learning_rate_warms_up_then_decays_to_zero():
    config = CopyDetectorConfig(steps=12, warmup_steps=4)
    assert [_lr_factor(s, config) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert _lr_factor(8, config) == pytest.approx(0.5) and _lr_factor(12, config) == pytest.approx(0.0)


def test_bad_configs_and_data_are_named(shapes):
    with pytest.raises(ValueError, match="multiple of 8"):
        CopyDetectorConfig(image_size=20)
    assert CopyDetectorConfig(crop_scale=[0.4, 1.0]).crop_scale == (0.4, 1.0)  # lists from YAML
    with pytest.raises(ValueError, match="(?s)batch_size.*greater than or equal to 2"):
        CopyDetectorConfig(batch_size=1)
    with pytest.raises(ValueError, match="too few"):
        train_copy_detector(shapes.images[:10], None, TINY, progress=False)
    with pytest.raises(ValueError, match="masks"):
        train_copy_detector(shapes.images, shapes.masks[:, :8], TINY, progress=False)
