from collections import Counter

import numpy as np
import pytest

from copyscope.mitigation.captions import (CaptionWordRepetition, RandomCaption, RandomNumbers, RandomTokens,
                                           insert_words)
from copyscope.models.tokenizer import build_clip_tokenizer, word_tokens

CAPTIONS = ["a large red striped circle at the top left", "", "a small blue square", "   ", "zorvekka"]
VOCABULARY = set(word_tokens())
ALL = [RandomCaption, RandomTokens, CaptionWordRepetition, RandomNumbers]


def _added(before: str, after: str) -> list[str]:
    """The words of `after` beyond those of `before`, checking that `before`'s words survive in order."""
    remaining = iter(after.split())
    assert all(word in remaining for word in before.split()), f"{before!r} is not kept in order in {after!r}"
    return list((Counter(after.split()) - Counter(before.split())).elements())


def test_insert_words_uses_every_boundary_uniformly():
    rng = np.random.default_rng(0)
    positions = [insert_words("a b c", ["X"], rng).split().index("X") for _ in range(4000)]
    assert np.allclose(np.bincount(positions) / 4000, 0.25, atol=0.03)
    assert insert_words("", ["X", "Y"], rng) in ("X Y", "Y X")


def test_random_caption_replaces_every_caption_with_vocabulary_words_and_leaves_empty_ones():
    out = RandomCaption(p=1.0, n_tokens=5)(CAPTIONS, np.random.default_rng(0))
    assert out[1] == "" and out[3] == "   "
    for before, after in zip(CAPTIONS, out):
        if before.strip():
            assert after != before and len(after.split()) == 5 and set(after.split()) <= VOCABULARY


@pytest.mark.parametrize("kind", ALL)
def test_probability_zero_is_the_identity(kind):
    assert kind(p=0.0)(CAPTIONS, np.random.default_rng(1)) == CAPTIONS


def test_perturbation_rate_is_p():
    captions = ["a red circle"] * 4000
    out = RandomCaption(p=0.3)(captions, np.random.default_rng(2))
    assert abs(np.mean([c != "a red circle" for c in out]) - 0.3) < 0.03


def test_random_tokens_add_exactly_k_vocabulary_tokens():
    tokenizer = build_clip_tokenizer(77)
    rng = np.random.default_rng(3)
    for caption in CAPTIONS[0], CAPTIONS[2], CAPTIONS[4]:
        after = RandomTokens(p=1.0, n_tokens=3)([caption], rng)[0]
        assert len(tokenizer(after).input_ids) - len(tokenizer(caption).input_ids) == 3
        added = _added(caption, after)
        assert len(added) == 3 and set(added) <= VOCABULARY


def test_random_tokens_replace_mode_substitutes_words_in_place():
    caption = CAPTIONS[0]
    after = RandomTokens(p=1.0, n_tokens=3, mode="replace")([caption], np.random.default_rng(4))[0].split()
    before = caption.split()
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(after) == len(before) and len(changed) == 3 and {after[i] for i in changed} <= VOCABULARY
    short = RandomTokens(p=1.0, n_tokens=3, mode="replace")(["zorvekka"], np.random.default_rng(4))[0]
    assert len(short.split()) == 1 and short in VOCABULARY


def test_caption_word_repetition_inserts_words_of_the_caption():
    rng = np.random.default_rng(5)
    for caption in CAPTIONS[0], CAPTIONS[4]:
        after = CaptionWordRepetition(p=1.0, n_words=4)([caption], rng)[0]
        added = _added(caption, after)
        assert len(added) == 4 and set(added) <= set(caption.split())


def test_random_numbers_inserts_integers_below_high():
    after = RandomNumbers(p=1.0, n_numbers=3, high=50)([CAPTIONS[2]], np.random.default_rng(6))[0]
    added = _added(CAPTIONS[2], after)
    assert len(added) == 3 and all(w.isdigit() and int(w) < 50 for w in added)


@pytest.mark.parametrize("kind", ALL)
def test_perturbations_are_seeded(kind):
    first = kind(p=1.0)(CAPTIONS, np.random.default_rng(7))
    assert first == kind(p=1.0)(CAPTIONS, np.random.default_rng(7))
    assert first != kind(p=1.0)(CAPTIONS, np.random.default_rng(8))


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="probability p"):
        RandomCaption(p=1.5)
    with pytest.raises(ValueError, match="n_tokens"):
        RandomTokens(n_tokens=0)
    with pytest.raises(ValueError, match="mode"):
        RandomTokens(mode="swap")
    with pytest.raises(ValueError, match="high"):
        RandomNumbers(high=0)
