"""The benchmark world's scenes: brief titled captions that under-determine their images, and template families."""
import numpy as np
import pytest

from copyscope.data import scenes
from copyscope.data.sources import scenes_set, without_title


def test_scenes_are_deterministic_and_richer_than_their_captions():
    a = scenes.generate(30, 16, seed=4, max_objects=4, n_captions=3, families=3, family_size=2, n_titles=5)
    b = scenes.generate(30, 16, seed=4, max_objects=4, n_captions=3, families=3, family_size=2, n_titles=5)
    np.testing.assert_array_equal(a[0], b[0])
    images, masks, captions, labels, families = a
    assert images.shape == (30, 16, 16, 3) and masks.max() >= 2  # at least two objects somewhere
    assert all(len(np.unique(m)) >= 2 for m in masks)
    assert all(len(without_title(c).split(" and ")) <= 2 for caps in captions for c in caps)
    titles = {c.split(scenes.TITLE)[1] for caps in captions for c in caps}
    assert len(titles) <= 5  # title words are shared by many images
    assert families.tolist() == [0, 0, 1, 1, 2, 2] + [-1] * 24


def test_a_template_family_shares_its_captions_and_layout_but_not_its_details():
    images, masks, captions, _, families = scenes.generate(12, 16, seed=1, families=2, family_size=3)
    members = np.flatnonzero(families == 0)
    assert all(captions[i] == captions[members[0]] for i in members)
    assert not np.array_equal(images[members[0]], images[members[1]])
    rng = np.random.default_rng(0)
    scene = scenes.sample_scene(rng, 3)
    other = scenes.variant(scene, rng)
    assert [(o.shape, o.color, o.position) for o in other.objects] == [
        (o.shape, o.color, o.position) for o in scene.objects]
    assert other.gradient != scene.gradient


def test_scenes_set_keeps_families_through_save_and_subset(tmp_path):
    data = scenes_set(10, 16, 0, 3, 2, families=1, family_size=3, n_titles=3)
    data.save(tmp_path / "scenes")
    loaded = type(data).load(tmp_path / "scenes")
    np.testing.assert_array_equal(loaded.families, data.families)
    assert loaded.families[:4].tolist() == [0, 0, 0, -1]
    assert loaded.subset([2, 5]).families.tolist() == [0, -1]


def test_bad_scene_parameters_are_refused():
    with pytest.raises(ValueError, match="do not fit"):
        scenes.generate(4, 16, seed=0, families=2, family_size=3)
    with pytest.raises(ValueError, match="max_objects"):
        scenes.sample_scene(np.random.default_rng(0), 1)
