import numpy as np
from PIL import Image, ImageEnhance

from copyscope.data import emoji
from copyscope.embed.registry import get_extractor

CHARS = ["\U0001F44D", "\U0001F436", "\U0001F34E", "\U0001F697", "\U0001F3E0", "\U0001F33B"]


def _mild_copy(image: np.ndarray) -> np.ndarray:
    """A copy as a copier would make it: a small crop resized back, a little brighter."""
    picture = Image.fromarray(image)
    side = picture.width
    picture = picture.crop((1, 1, side - 1, side - 1)).resize((side, side), Image.BILINEAR)
    return np.asarray(ImageEnhance.Brightness(picture).enhance(1.1))


def test_pretrained_features_shape_norm_and_batching():
    images = emoji.render(CHARS, 32)
    extractor = get_extractor("efficientnet_lite0", device="cpu", batch_size=4, progress=False)
    features = extractor(images)
    assert features.shape == (6, 1280) and features.dtype == np.float32
    assert np.allclose(np.linalg.norm(features, axis=1), 1, atol=1e-5)
    one_by_one = get_extractor("efficientnet_lite0", device="cpu", batch_size=1, progress=False)(images)
    assert np.allclose(features, one_by_one, atol=1e-4)
    assert extractor.tokens(images[:2]).shape == (2, 49, 1280)


def test_a_mild_copy_is_nearer_its_original_than_any_other_emoji():
    images = emoji.render(CHARS, 32)
    copies = np.stack([_mild_copy(im) for im in images])
    extractor = get_extractor("efficientnet_lite0", device="cpu", progress=False)
    similarity = extractor(copies) @ extractor(images).T
    assert (similarity.argmax(axis=1) == np.arange(len(CHARS))).all()
    assert np.diag(similarity).min() > np.max(similarity - 2 * np.eye(len(CHARS)))
