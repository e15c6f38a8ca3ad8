import numpy as np
import pytest
import yaml

from copyscope.config import ConfigError, resolve
from copyscope.paths import params_file
from copyscope.data import emoji
from copyscope.data.sources import emoji_set

THUMBS, THUMBS_MEDIUM, DOG = "\U0001F44D", "\U0001F44D\U0001F3FD", "\U0001F436"


def test_captions_are_cldr_names_in_words():
    assert emoji.caption(":thumbs_up_medium_skin_tone:") == "thumbs up medium skin tone"
    named = emoji.names()
    assert named[THUMBS] == "thumbs up" and named[THUMBS_MEDIUM] == "thumbs up medium skin tone"
    assert len(named) > 3000 and list(named).index(THUMBS) < list(named).index(THUMBS_MEDIUM)


def test_skin_tone_variants_share_their_base_emojis_family():
    assert emoji.family_of(THUMBS_MEDIUM) == THUMBS and emoji.family_of(DOG) == DOG


def test_rendering_is_deterministic_and_a_variant_is_nearer_its_base_than_another_emoji():
    images = emoji.render([THUMBS, THUMBS_MEDIUM, DOG], 24)
    assert images.shape == (3, 24, 24, 3) and images.dtype == np.uint8
    assert np.array_equal(images, emoji.render([THUMBS, THUMBS_MEDIUM, DOG], 24))
    assert not (images == 255).all(axis=(1, 2, 3)).any()  # every glyph leaves ink
    distance = lambda a, b: np.abs(images[a].astype(int) - images[b]).mean()
    assert distance(0, 1) < distance(0, 2)


def test_sampled_families_are_whole_of_the_asked_sizes_and_seeded():
    chars = list(emoji.names())
    chosen = emoji.sample_families(chars, {1: 20, 6: 4}, seed=1)
    assert chosen == emoji.sample_families(chars, {1: 20, 6: 4}, seed=1) != emoji.sample_families(chars, {1: 20, 6: 4}, 2)
    sizes = sorted(len(members) for members in emoji.families(chosen).values())
    assert sizes == [1] * 20 + [6] * 4 and len(chosen) == 44
    whole = emoji.families(chars)
    assert all(members == whole[base] for base, members in emoji.families(chosen).items())
    with pytest.raises(ValueError, match="families of size 6"):
        emoji.sample_families(chars, {6: 10_000}, seed=1)


def test_emoji_set_labels_each_image_with_its_family():
    data = emoji_set(16, {1: 10, 6: 2}, seed=0)
    assert data.images.shape[1:] == (16, 16, 3) and len(data) == 22
    assert len(set(data.labels)) == 12 and all(len(c) == 1 for c in data.captions)
    assert all(i.startswith("emoji-") for i in data.ids) and "CC BY-SA" in data.meta["credit"]
    assert data.masks.shape == data.images.shape[:3] and 0 < data.masks.mean() < 1  # the ink


def test_params_accept_an_emoji_dataset_and_reject_a_bad_one():
    raw = yaml.safe_load(params_file().read_text())
    raw["datasets"]["emoji"] = {"kind": "emoji", "resolution": 24, "family_sizes": {1: 8, 6: 2}}
    assert resolve(raw, "default").datasets["emoji"].family_sizes == {1: 8, 6: 2}
    raw["datasets"]["emoji"]["family_sizes"] = {0: 3}
    with pytest.raises(ConfigError, match=r"datasets\.emoji\..*family_sizes"):
        resolve(raw, "default")
