import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from copyscope import augment


def _images(n=6, size=12, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("ours,reference,factors", [
    (augment.adjust_brightness, TF.adjust_brightness, [0.6, 1.0, 1.4]),
    (augment.adjust_contrast, TF.adjust_contrast, [0.6, 1.0, 1.4]),
    (augment.adjust_saturation, TF.adjust_saturation, [0.0, 0.8, 1.2]),
    (augment.adjust_hue, TF.adjust_hue, [-0.1, 0.0, 0.25]),
])
def test_colour_adjustments_match_torchvision_image_by_image(ours, reference, factors):
    x = _images(3)
    out = ours(x, torch.tensor(factors))
    for i, f in enumerate(factors):
        assert torch.allclose(out[i], reference(x[i], f), atol=1e-5)


def test_blur_matches_torchvision_with_a_sigma_per_image():
    x = _images(3, 16)
    sigmas = [0.3, 1.0, 4.0]
    out = augment.gaussian_blur(x, 5, torch.tensor(sigmas))
    for i, s in enumerate(sigmas):
        assert torch.allclose(out[i], TF.gaussian_blur(x[i], [5, 5], [s, s]), atol=1e-5)
    with pytest.raises(ValueError, match="odd"):
        augment.gaussian_blur(x, 4, torch.ones(3))


@pytest.mark.parametrize("apply,reference", [
    (lambda x, g, p: augment.random_grayscale(x, g, p), lambda x: TF.rgb_to_grayscale(x, num_output_channels=3)),
    (lambda x, g, p: augment.random_solarize(x, g, 0.9, p), lambda x: TF.solarize(x, 0.9)),
    (lambda x, g, p: augment.random_autocontrast(x, g, p), TF.autocontrast),
    (lambda x, g, p: augment.random_gaussian_blur(x, g, 5, (1.0, 1.0), p), lambda x: TF.gaussian_blur(x, [5, 5], 1.0)),
])
def test_random_operations_apply_per_image_with_probability_p(apply, reference):
    x = _images(64, 8)
    assert torch.equal(apply(x, torch.Generator().manual_seed(0), 0.0), x)
    assert torch.allclose(apply(x, torch.Generator().manual_seed(0), 1.0), reference(x), atol=1e-5)
    half = apply(x, torch.Generator().manual_seed(0), 0.5)
    changed = ~torch.isclose(half, x).flatten(1).all(dim=1)
    assert 16 < changed.sum() < 48
    assert torch.allclose(half[changed], reference(x)[changed], atol=1e-5)


def test_color_jitter_is_seeded_identity_at_p0_and_differs_per_image():
    x = _images(8)
    assert torch.equal(augment.color_jitter(x, torch.Generator().manual_seed(0), 0.4, 0.4, 0.2, 0.1, p=0.0), x)
    a = augment.color_jitter(x, torch.Generator().manual_seed(1), 0.4, 0.4, 0.2, 0.1)
    b = augment.color_jitter(x, torch.Generator().manual_seed(1), 0.4, 0.4, 0.2, 0.1)
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    same = augment.color_jitter(x[:1].repeat(8, 1, 1, 1), torch.Generator().manual_seed(2), 0.4, 0.4, 0.2, 0.1)
    assert not torch.allclose(same[0], same[1])  # one draw per image, not one per batch


def _geometry(n, **changes):
    """The identity map for n images, with some fields changed."""
    fields = {"extent_x": torch.ones(n), "extent_y": torch.ones(n), "angle": torch.zeros(n),
              "centre_x": torch.zeros(n), "centre_y": torch.zeros(n), "flip_h": torch.zeros(n, dtype=torch.bool),
              "flip_v": torch.zeros(n, dtype=torch.bool)}
    return augment.Geometry(**{**fields, **changes})


def test_geometry_identity_flip_rotation_shift_and_shrink():
    x = _images(2, 8)
    assert torch.allclose(augment.warp(x, _geometry(2)), x, atol=1e-6)
    out = augment.warp(x, _geometry(2, flip_h=torch.tensor([True, False])))
    assert torch.allclose(out[0], x[0].flip(-1), atol=1e-6) and torch.allclose(out[1], x[1], atol=1e-6)
    out = augment.warp(x, _geometry(2, flip_v=torch.tensor([True, True])))
    assert torch.allclose(out, x.flip(-2), atol=1e-6)
    turned = augment.warp(x, _geometry(2, angle=torch.full((2,), 90.0)))
    assert torch.allclose(turned, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)
    shifted = augment.warp(x, _geometry(2, centre_x=torch.full((2,), 0.25)))  # a quarter of the half-width: 1 px
    assert torch.allclose(shifted[..., :-1], x[..., 1:], atol=1e-5)
    shrunk = augment.warp(torch.ones(2, 1, 8, 8), _geometry(2, extent_x=torch.full((2,), 2.0),
                                                            extent_y=torch.full((2,), 2.0)), mode="nearest")
    assert shrunk[:, :, 2:6, 2:6].eq(1).all() and shrunk.sum() == 2 * 16
    with pytest.raises(ValueError, match="square"):
        augment.warp(torch.ones(1, 3, 8, 6), _geometry(1))


def test_random_resized_crops_stay_inside_the_image():
    g = augment.random_resized_crops(torch.Generator().manual_seed(0), 500, (0.3, 1.0), 0.0, 0.5, 0.0)
    area = g.extent_x * g.extent_y
    assert area.min() >= 0.3 - 1e-6 and area.max() <= 1 + 1e-6
    assert ((g.centre_x.abs() + g.extent_x) <= 1 + 1e-6).all() and ((g.centre_y.abs() + g.extent_y) <= 1 + 1e-6).all()
    assert 0.4 < g.flip_h.float().mean() < 0.6 and not g.flip_v.any() and (g.angle == 0).all()


def test_random_boxes_are_squares_of_the_requested_area():
    area = torch.tensor([0.25, 1.0, 0.0, 0.5])
    boxes = augment.random_boxes(torch.Generator().manual_seed(0), 4, 16, area)
    counts = boxes.flatten(1).sum(dim=1).tolist()
    assert counts == [64, 256, 1, round(np.sqrt(0.5) * 16) ** 2]
    for box in boxes[:, 0]:
        rows, cols = box.any(dim=1).nonzero(), box.any(dim=0).nonzero()
        assert len(rows) == len(cols) and box.sum() == len(rows) ** 2  # one solid square
