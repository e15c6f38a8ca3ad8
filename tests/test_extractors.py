import numpy as np
import pytest
import torch

from copyscope.embed.base import Extractor, ResizeNormalize, check_images
from copyscope.embed.pixel import PixelExtractor
from copyscope.embed.registry import EXTRACTORS, get_extractor
from copyscope.embed.similarity import dot_similarity, split_product_similarity


def test_dot_similarity_is_the_matrix_of_inner_products():
    a = np.array([[1, 0], [0.6, 0.8]], np.float32)
    b = np.array([[0, 1], [1, 0], [0.6, 0.8]], np.float32)
    assert np.allclose(dot_similarity(a, b), [[0, 1, 0.6], [0.8, 0.6, 1.0]])
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        dot_similarity(a, b[:, :1])


def test_split_product_takes_the_best_matching_chunk():
    # two images of 4 tokens (2-d); chunks of 2 tokens = 4 numbers each
    a = np.array([[[1, 0], [0, 0], [0, 3], [4, 0]]], np.float32)
    b = np.array([[[2, 0], [0, 0], [0, 0], [0, 5]],    # chunk 1 matches a's chunk 1 exactly: 1.0
                  [[0, 1], [0, 0], [0, 3], [4, 0]]],   # chunk 2 equals a's chunk 2: 1.0; chunk 1 orthogonal
                 np.float32)
    assert np.allclose(split_product_similarity(a, b, 2), [[1.0, 1.0]])
    c = np.array([[[0, 0], [1, 0], [0, 3], [0, 1]]], np.float32)
    # chunk 1: (1,0,0,0)·(0,0,1,0) = 0; chunk 2: (0,3,4,0)/5 · (0,3,0,1)/√10 = 9 / (5√10)
    assert np.allclose(split_product_similarity(a, c, 2), [[9 / (5 * np.sqrt(10))]])
    assert np.allclose(split_product_similarity(a, c, 1), [[9 / np.sqrt(26 * 11)]])  # the whole-map cosine
    assert np.allclose(split_product_similarity(a, c, 4), [[1.0]])  # token 3: (0,3) and (0,3)
    with pytest.raises(ValueError, match="equal chunks"):
        split_product_similarity(a, c, 3)


def test_bad_images_are_named():
    with pytest.raises(ValueError, match="uint8"):
        check_images(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="N×H×W×3"):
        check_images(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="no images"):
        check_images(np.zeros((0, 8, 8, 3), np.uint8))


def test_resize_normalize_matches_hand_computation():
    images = torch.full((1, 4, 4, 3), 51, dtype=torch.uint8)
    out = ResizeNormalize(8, "bilinear", (0.1, 0.2, 0.3), (0.5, 0.5, 0.25))(images)
    assert out.shape == (1, 3, 8, 8)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([(0.2 - 0.1) / 0.5, 0.0, (0.2 - 0.3) / 0.25]), atol=1e-6)


class _Means(Extractor):
    """A toy extractor: per-channel means, and each row of pixels as a token."""

    name = "means"
    preprocessing = {}

    def prepare(self, images):
        self.batches = getattr(self, "batches", 0) + 1
        return torch.from_numpy(images).float()

    def forward(self, x):
        return x.mean(dim=(1, 2))

    def forward_tokens(self, x):
        return x.mean(dim=2)


def test_extractor_batches_normalises_and_gives_tokens(shapes):
    extractor = _Means(device="cpu", batch_size=5, progress=False)
    e = extractor(shapes.images)
    assert extractor.batches == 5 and e.dtype == np.float32
    expected = shapes.images.astype(np.float64).mean(axis=(1, 2))
    assert np.allclose(e, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)
    assert extractor.tokens(shapes.images).shape == (len(shapes), 16, 3)
    with pytest.raises(ValueError, match="batch_size"):
        _Means(batch_size=0)


def test_extractors_without_tokens_say_so():
    class Plain(_Means):
        forward_tokens = Extractor.forward_tokens

    with pytest.raises(NotImplementedError, match="means extractor has no token features"):
        Plain(device="cpu").tokens(np.zeros((1, 4, 4, 3), np.uint8))


def test_registry_builds_known_names_and_lists_them_otherwise(shapes):
    pixel = get_extractor("pixel", size=8)
    assert isinstance(pixel, PixelExtractor) and pixel(shapes.images).shape == (len(shapes), 192)
    assert set(EXTRACTORS) >= {"pixel", "copy_detector", "sscd_disc_mixup", "sscd_disc_large", "dino_vitb16",
                               "clip_vitb32"}
    with pytest.raises(ValueError, match="unknown extractor 'sscd'.*sscd_disc_mixup.*clip_vitb32"):
        get_extractor("sscd")
