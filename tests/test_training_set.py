import numpy as np
import pytest

from copyscope.config import Duplication
from copyscope.data.training_set import FIXED_CAPTION, MV, TV, UNIQUE, TrainingSet
from copyscope.models.tokenizer import word_tokens
from copyscope.stages.train import training_subset


def test_caption_kinds(shapes):
    assert TrainingSet(shapes, "unconditional").prompt(0) == ""
    assert TrainingSet(shapes, "none").prompt(3) == FIXED_CAPTION
    assert TrainingSet(shapes, "class").prompt(0) == f"An image of a {shapes.labels[0]}"
    assert TrainingSet(shapes, "instance").prompt(2) == shapes.captions[2][0]
    random = TrainingSet(shapes, "random", random_caption_tokens=6)
    words = random.prompt(0).split()
    assert len(words) == 6 and set(words) <= set(word_tokens())
    assert len({random.prompt(i) for i in range(len(shapes))}) == len(shapes)
    with pytest.raises(ValueError, match="caption kind"):
        TrainingSet(shapes, "poetry")


def test_random_captions_are_seeded(shapes):
    assert TrainingSet(shapes, "random", seed=5).prompt(1) == TrainingSet(shapes, "random", seed=5).prompt(1)
    assert TrainingSet(shapes, "random", seed=5).prompt(1) != TrainingSet(shapes, "random", seed=6).prompt(1)


def test_duplicated_fraction_is_upweighted_by_factor(shapes):
    data = TrainingSet(shapes, "instance", Duplication(fraction=0.25, factor=5))
    assert data.duplicated.sum() == 6
    indices, _ = data.draw(np.random.default_rng(0), 20000)
    rate = np.bincount(indices, minlength=len(shapes)) / len(indices)
    ratio = rate[data.duplicated].mean() / rate[~data.duplicated].mean()
    assert 4.5 < ratio < 5.5


def test_image_caption_duplication_keeps_one_caption(shapes):
    data = TrainingSet(shapes, "instance", Duplication(fraction=0.25, factor=5, mode="image_caption"))
    i = int(np.flatnonzero(data.duplicated)[0])
    assert data.candidates[i] == [shapes.captions[i][0]]


def test_image_only_duplication_draws_among_the_images_captions(shapes):
    data = TrainingSet(shapes, "instance", Duplication(fraction=0.25, factor=5, mode="image"))
    dup, single = int(np.flatnonzero(data.duplicated)[0]), int(np.flatnonzero(~data.duplicated)[0])
    assert data.candidates[dup] == shapes.captions[dup] and data.candidates[single] == [shapes.captions[single][0]]
    rng = np.random.default_rng(1)
    drawn = {c for _ in range(50) for i, c in zip(*data.draw(rng, 32)) if i == dup}
    assert drawn == set(shapes.captions[dup])


def test_multiple_captions_for_every_image(shapes):
    data = TrainingSet(shapes, "instance", multiple_captions=True)
    assert all(data.candidates[i] == shapes.captions[i] for i in range(len(shapes)))


def test_draw_is_reproducible(shapes):
    data = TrainingSet(shapes, "instance", Duplication(fraction=0.1, factor=3))
    a = data.draw(np.random.default_rng(7), 16)
    b = data.draw(np.random.default_rng(7), 16)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_mv_duplicates_are_singles_and_template_families_are_upweighted(scenes):
    data = scenes.subset(np.arange(12))  # two families of three, then six singles
    training = TrainingSet(data, "instance", Duplication(fraction=0.5, factor=10, template_factor=4), seed=0)
    kinds = training.duplication_kind()
    assert kinds[:6] == [TV] * 6 and kinds[6:].count(MV) == 3 and kinds[6:].count(UNIQUE) == 3
    weights = training.weights / training.weights.min()
    assert np.allclose(weights[:6], 4) and np.allclose(sorted(weights[6:]), [1, 1, 1, 10, 10, 10])
    plain = TrainingSet(data, "instance", Duplication(fraction=0.5, factor=10), seed=0)
    assert not plain.templates.any() and plain.duplicated[:6].sum() == 0  # families are never MV


def test_training_subsets_take_template_families_first_or_leave_them_out(scenes):
    with_families = training_subset(len(scenes), 10, 0, scenes.families, templates=True)
    assert with_families[:6].tolist() == list(range(6)) and (scenes.families[with_families[6:]] == -1).all()
    without = training_subset(len(scenes), 10, 0, scenes.families)
    assert (scenes.families[without] == -1).all() and len(without) == 10
    assert training_subset(8, 3, 0).tolist() == training_subset(8, 5, 0)[:3].tolist()  # nested
    with pytest.raises(ValueError, match="does not fit"):
        training_subset(len(scenes), 4, 0, scenes.families, templates=True)
