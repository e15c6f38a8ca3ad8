
import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from open_clip import CLIPTextCfg, CLIPVisionCfg
from open_clip.tokenizer import SimpleTokenizer
from PIL import Image

from copyscope.alignment.captions import ATTRIBUTES, caption_of, corrupt, corruptions, parse_caption
from copyscope.alignment.evaluation import caption_correctness
from copyscope.alignment.model import AlignmentModel
from copyscope.config import AlignmentConfig
from copyscope.alignment.score import PretrainedClipScore
from copyscope.alignment.training import batch_indices, draw_captions, train_alignment_model
from copyscope.data import procedural
from copyscope.data.sources import procedural_set

TINY = AlignmentConfig(vision_width=32, vision_layers=1, vision_head_width=16, text_width=32, text_layers=1,
                       text_heads=2, embed_dim=32, steps=3, batch_size=8, lr=3e-3, warmup_steps=1)


@pytest.fixture(scope="module")
def pairs():
    return procedural_set(16, 16, seed=11, max_objects=2, n_captions=3, identifiers=False)


@pytest.fixture(scope="module")
def trained(pairs):
    return train_alignment_model(pairs, TINY, device="cpu")


def _differences(a: procedural.Scene, b: procedural.Scene) -> list[str]:
    changed = [f"{k}.{f}" for k, (x, y) in enumerate(zip(a.objects, b.objects))
               for f in ("color", "shape", "texture", "size", "position") if getattr(x, f) != getattr(y, f)]
    return changed + (["background"] if a.background != b.background else [])


@pytest.mark.parametrize("change, message", [({"steps": 0}, "(?s)steps.*greater than or equal to 1"),
                                             ({"patch_size": 5}, "not a multiple of patch_size"),
                                             ({"text_heads": 3}, "not a multiple of text_heads")])
def test_inconsistent_configs_are_clear_errors(change, message):
    with pytest.raises(ValueError, match=message):
        AlignmentConfig(**{**TINY.model_dump(), **change})


def test_every_full_caption_of_the_grammar_parses_back_to_itself():
    data = procedural_set(40, 8, seed=2, max_objects=3, n_captions=1, identifiers=False)
    for (caption,) in data.captions:
        assert caption_of(parse_caption(caption)) == caption


@pytest.mark.parametrize("caption", ["a red circle", "a small red circle at the top on a gray background, titled x",
                                     "a huge red circle at the top on a gray background"])
def test_captions_outside_the_grammar_are_a_clear_error(caption):
    with pytest.raises(ValueError, match="not a full caption"):
        parse_caption(caption)


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_a_corruption_changes_exactly_one_attribute_and_still_parses(attribute):
    caption = "a small red striped circle at the top left and a large blue square at the center on a gray background"
    scene = parse_caption(caption)
    options = corruptions(caption, attribute)
    counts = {"color": 2 * 7, "shape": 2 * 5, "texture": 2 * 3, "size": 2, "position": 2 * 7, "background": 3}
    assert len(set(options)) == len(options) == counts[attribute]
    for option in options:
        changed = parse_caption(option)
        (difference,) = _differences(scene, changed)
        assert difference.endswith(attribute)
        assert len({o.position for o in changed.objects}) == len(changed.objects)
    assert corrupt(caption, attribute, np.random.default_rng(0)) in options


def test_unknown_attribute_and_impossible_corruption_are_clear_errors():
    with pytest.raises(ValueError, match="unknown attribute"):
        corruptions("a small red circle at the top on a gray background", "mood")
    full = " and ".join(f"a small red circle at the {p}" for p in procedural.POSITIONS) + " on a gray background"
    with pytest.raises(ValueError, match="cannot change"):
        corrupt(full, "position", np.random.default_rng(0))


def test_batches_hold_distinct_images_and_cover_each_epoch():
    batches = batch_indices(10, 4, 5, np.random.default_rng(0))
    assert batches.shape == (5, 4)
    assert all(len(set(b)) == 4 for b in batches)
    assert len(set(batches[:2].ravel())) == 8  # one epoch = two full batches, no image twice
    with pytest.raises(ValueError, match="batch_size 11 exceeds"):
        batch_indices(10, 11, 1, np.random.default_rng(0))


def test_each_image_draws_each_of_its_own_captions_uniformly():
    counts = np.array([1, 3, 2])  # flat caption rows: image 0 -> 0, image 1 -> 1..3, image 2 -> 4..5
    images = np.repeat([0, 1, 2], 3000)
    rows = draw_captions(counts, images, np.random.default_rng(0))
    assert set(rows[images == 0]) == {0}
    assert np.allclose(np.bincount(rows[images == 1], minlength=4)[1:] / 3000, 1 / 3, atol=0.03)
    assert np.allclose(np.bincount(rows[images == 2], minlength=6)[4:] / 3000, 1 / 2, atol=0.03)


def test_score_is_a_cosine_invariant_to_batch_size_and_order(trained, pairs):
    captions = [caps[0] for caps in pairs.captions]
    scores = trained.score(pairs.images, captions)
    assert scores.shape == (16,) and scores.dtype == np.float32 and np.all(np.abs(scores) <= 1)
    images, texts = trained.embed_images(pairs.images), trained.embed_captions(captions)
    assert np.allclose(scores, (images * texts).sum(1), atol=1e-6)
    assert np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    order = np.random.default_rng(0).permutation(16)
    small = AlignmentModel(trained.config, trained.model, batch_size=3)
    assert np.allclose(small.score(pairs.images[order], [captions[i] for i in order]), scores[order], atol=1e-5)


def test_score_rejects_bad_input(trained, pairs):
    with pytest.raises(ValueError, match="2 images but 3 captions"):
        trained.score(pairs.images[:2], ["a", "b", "c"])
    with pytest.raises(ValueError, match="uint8"):
        trained.score(pairs.images[:2].astype(float), ["a", "b"])
    with pytest.raises(ValueError, match="single string"):
        trained.score(pairs.images[:1], "a")


def test_images_of_another_resolution_are_resized_to_the_model(trained, pairs):
    big = pairs.images.repeat(2, axis=1).repeat(2, axis=2)
    captions = [caps[0] for caps in pairs.captions]
    assert np.allclose(trained.score(big, captions), trained.score(pairs.images, captions), atol=1e-2)


def test_save_load_round_trip_gives_identical_scores(tmp_path, trained, pairs):
    trained.save(tmp_path / "clip")
    loaded = AlignmentModel.load(tmp_path / "clip")
    captions = [caps[1] for caps in pairs.captions]
    assert loaded.config == trained.config and loaded.history == trained.history
    assert np.array_equal(loaded.score(pairs.images, captions), trained.score(pairs.images, captions))
    with pytest.raises(FileNotFoundError, match="not a saved alignment model"):
        AlignmentModel.load(tmp_path / "missing")


def test_training_is_seeded(pairs, trained):
    again = train_alignment_model(pairs, TINY, device="cpu")
    other = train_alignment_model(pairs, TINY.model_copy(update=dict(seed=1)), device="cpu")
    assert again.history["loss"] == trained.history["loss"]
    assert other.history["loss"] != trained.history["loss"]


def test_training_lifts_true_caption_scores_above_corrupted_ones():
    data = procedural_set(16, 16, seed=4, max_objects=1, n_captions=2, identifiers=False)
    config = TINY.model_copy(update=dict(steps=60, batch_size=16, lr=5e-3, warmup_steps=5))
    before = caption_correctness(AlignmentModel.untrained(config), data, seed=0)
    model = train_alignment_model(data, config, device="cpu")
    after = caption_correctness(model, data, seed=0)
    loss = model.history["loss"]
    assert np.mean(loss[-10:]) < 0.5 * np.mean(loss[:10])
    assert after["auc"] > 0.6 and after["auc"] > before["auc"] + 0.1
    assert after["retrieval_top1"] > after["chance_top1"]
    assert set(after["auc_per_attribute"]) == set(ATTRIBUTES)


class OneHotScorer:
    """A hand-made scorer: image i embeds as the i-th unit vector; a caption as the unit vector of the image whose
    full caption it is (an oracle), or as the same vector whatever the caption (one that ignores the text)."""

    def __init__(self, data, oracle: bool):
        self.images = data.images
        self.truth = {caps[0]: i for i, caps in enumerate(data.captions)}
        self.oracle = oracle

    def embed_images(self, images):
        return np.eye(len(self.images))[[int(np.flatnonzero((self.images == x).all(axis=(1, 2, 3)))[0])
                                         for x in images]]

    def embed_captions(self, captions):
        n = len(self.images)
        if not self.oracle:
            return np.full((len(captions), n), 1 / np.sqrt(n))
        return np.stack([np.eye(n)[self.truth[c]] if c in self.truth else np.zeros(n) for c in captions])


def test_caption_correctness_is_perfect_for_an_oracle_and_chance_for_a_scorer_ignoring_text(pairs):
    perfect = caption_correctness(OneHotScorer(pairs, oracle=True), pairs, seed=0, attributes=("color", "size"))
    assert perfect["auc"] == 1 and perfect["retrieval_top1"] == 1 and perfect["chance_top1"] == pytest.approx(1 / 3)
    assert perfect["auc_per_attribute"] == {"color": 1.0, "size": 1.0}
    assert perfect["mean_true_score"] == 1 and perfect["mean_corrupted_score"] == 0
    blind = caption_correctness(OneHotScorer(pairs, oracle=False), pairs, seed=0)
    assert blind["auc"] == 0.5 and blind["retrieval_top1"] == 0 and blind["n_images"] == 16
    with pytest.raises(ValueError, match="at least one attribute"):
        caption_correctness(OneHotScorer(pairs, oracle=True), pairs, seed=0, attributes=())


def test_pretrained_wrapper_scores_with_a_random_open_clip_model(pairs):
    torch.manual_seed(0)
    model = open_clip.CLIP(16, CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=8, image_size=32),
                           CLIPTextCfg(context_length=24, width=32, heads=2, layers=1))
    preprocess = open_clip.image_transform(32, is_train=False)
    scorer = PretrainedClipScore(model, preprocess, SimpleTokenizer(context_length=24), batch_size=5)
    captions = [caps[0] for caps in pairs.captions]
    scores = scorer.score(pairs.images, captions)
    assert scores.shape == (16,) and np.all(np.abs(scores) <= 1)
    with torch.no_grad():
        image = F.normalize(model.encode_image(torch.stack([preprocess(Image.fromarray(im)) for im in pairs.images])))
        text = F.normalize(model.encode_text(SimpleTokenizer(context_length=24)(captions)))
    assert np.allclose(scores, (image * text).sum(1).numpy(), atol=1e-5)
