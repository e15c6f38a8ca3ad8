import numpy as np
import pytest

from copyscope.data import procedural
from copyscope.data.sources import procedural_set


def test_same_seed_same_dataset_and_other_seed_differs():
    a = procedural.generate(6, 16, seed=1)
    b = procedural.generate(6, 16, seed=1)
    c = procedural.generate(6, 16, seed=2)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("resolution", [8, 16, 32])
def test_any_resolution_gives_uint8_images_and_matching_masks(resolution):
    images, masks, captions, labels, names = procedural.generate(5, resolution, seed=0)
    assert images.shape == (5, resolution, resolution, 3) and images.dtype == np.uint8
    assert masks.shape == (5, resolution, resolution)
    assert len(captions) == len(labels) == len(names) == 5


def test_mask_labels_count_objects_and_cover_coloured_pixels():
    rng = np.random.default_rng(0)
    scene = procedural.sample_scene(rng, max_objects=3)
    image, mask = procedural.render(scene, 32)
    assert set(np.unique(mask)) <= set(range(len(scene.objects) + 1))
    assert (mask > 0).any()
    background = np.asarray(procedural.BACKGROUNDS[scene.background])
    # pixels far from the background colour belong to some object
    far = np.abs(image.astype(int) - background).sum(-1) > 150
    assert (mask[far] > 0).mean() > 0.9


def test_captions_name_every_object_and_paraphrases_differ():
    rng = np.random.default_rng(4)
    scene = procedural.sample_scene(rng, max_objects=3)
    captions = procedural.describe(scene, rng, n_captions=4)
    assert len(captions) == 4 and len(set(captions)) == 4
    for obj in scene.objects:
        assert obj.shape in captions[0] and obj.color in captions[0] and obj.position in captions[0]
    assert scene.background in captions[0]


def test_title_words_are_unique_and_end_every_caption():
    data = procedural_set(40, 16, seed=0, max_objects=2, n_captions=2, identifiers=True)
    titles = data.meta["titles"]
    assert len(set(titles)) == 40
    assert all(c.endswith(f"titled {t}") for caps, t in zip(data.captions, titles) for c in caps)
    assert data.labels[0] in procedural.SHAPES


def test_nuisance_details_make_identical_captions_render_differently():
    rng = np.random.default_rng(0)
    scene = procedural.sample_scene(rng, 1)
    obj = scene.objects[0]
    moved = procedural.Scene((procedural.ShapeObject(**{**obj.__dict__, "offset": (-obj.offset[0], 0.2)}),),
                             scene.background, scene.gradient, scene.name)
    assert procedural.describe(scene, rng, 1)[0] == procedural.describe(moved, rng, 1)[0]
    assert not np.array_equal(procedural.render(scene, 16)[0], procedural.render(moved, 16)[0])


def test_too_many_images_is_a_clear_error():
    with pytest.raises(ValueError, match="n_images"):
        procedural.generate(procedural.MAX_IMAGES + 1, 8, seed=0)
