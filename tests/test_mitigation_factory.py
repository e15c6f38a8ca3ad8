import math

import numpy as np
import pytest

from copyscope.data.training_set import TrainingSet
from copyscope.mitigation import inference_mitigation, training_hooks, training_set_options
from copyscope.mitigation.captions import CaptionWordRepetition, RandomCaption, RandomNumbers, RandomTokens
from copyscope.mitigation.embedding_noise import EmbeddingNoise, PromptEmbeddingNoise
from copyscope.mitigation.embedding_optimisation import EmbeddingOptimisation
from copyscope.mitigation.factory import INFERENCE
from copyscope.mitigation.guidance_transition import DynamicTransition, StaticTransition
from copyscope.mitigation.initial_noise import InitialNoiseAdjustment
from copyscope.mitigation.magnitude_filter import MagnitudeFilter
from copyscope.sampling import generate
from copyscope.config import Training
from copyscope.training import TrainingHooks, train
from tests.conftest import tiny_model

PROMPTS = ["a red circle", "a blue square at the top"]


def test_training_hooks_by_name():
    assert training_hooks("rc", p=0.2, n_tokens=6).captions == RandomCaption(p=0.2, n_tokens=6)
    assert training_hooks("rt", mode="replace").captions == RandomTokens(mode="replace")
    assert training_hooks("cwr").captions == CaptionWordRepetition()
    assert training_hooks("rna").captions == RandomNumbers()
    assert training_hooks("gn", scale=0.3).embeddings == EmbeddingNoise(scale=0.3)
    assert isinstance(training_hooks("filter", threshold=3.0).keep, MagnitudeFilter)
    assert training_hooks("none") == training_hooks("mc") == TrainingHooks()


def test_multiple_captions_is_a_training_set_option(shapes):
    assert training_set_options("mc") == {"multiple_captions": True} and training_set_options("rc") == {}
    data = TrainingSet(shapes, "instance", **training_set_options("mc"))
    assert data.candidates[0] == shapes.captions[0] and len(shapes.captions[0]) > 1


def test_bad_names_and_parameters_are_named():
    with pytest.raises(ValueError, match="unknown training-time mitigation 'xx'.*rc"):
        training_hooks("xx")
    with pytest.raises(ValueError, match=r"'rc' takes .*n_tokens.*unknown parameter\(s\) \['length'\]"):
        training_hooks("rc", length=3)
    with pytest.raises(ValueError, match="'mc' takes no parameters"):
        training_hooks("mc", p=0.5)
    with pytest.raises(ValueError, match="unknown inference-time mitigation"):
        inference_mitigation("filter")
    with pytest.raises(ValueError, match="probability p"):
        inference_mitigation("rt", p=2.0)


def test_inference_mitigations_by_name():
    assert inference_mitigation("rt").prompt_transform == RandomTokens(p=1.0, n_tokens=4)
    assert inference_mitigation("rna", n_numbers=1).prompt_transform == RandomNumbers(p=1.0, n_numbers=1)
    assert inference_mitigation("cwr").prompt_transform == CaptionWordRepetition(p=1.0, n_words=4)
    assert inference_mitigation("gn", scale=0.2).prepare == PromptEmbeddingNoise(scale=0.2)
    assert inference_mitigation("static_transition").transition == StaticTransition()
    assert inference_mitigation("dynamic_transition").transition == DynamicTransition()
    assert isinstance(inference_mitigation("embedding_optimisation").prepare, EmbeddingOptimisation)
    assert isinstance(inference_mitigation("initial_noise").prepare, InitialNoiseAdjustment)
    none = inference_mitigation("none")
    assert none.prompts(PROMPTS, np.random.default_rng(0)) == PROMPTS and none.guidance(7.5) == 7.5
    assert none.extra_unet_evals_per_image == 0.0
    rewritten = inference_mitigation("rt").prompts(PROMPTS, np.random.default_rng(0))
    assert [len(p.split()) for p in rewritten] == [len(p.split()) + 4 for p in PROMPTS]
    assert callable(inference_mitigation("static_transition").guidance(7.5))
    assert math.isnan(inference_mitigation("embedding_optimisation").extra_unet_evals_per_image)


SETTINGS = {"embedding_optimisation": {"target": 0.0, "max_iters": 2}, "initial_noise": {"target": 0.0, "max_iters": 2}}


def _generate(model, name):
    mitigation = inference_mitigation(name, **SETTINGS.get(name, {}))
    prompts = mitigation.prompts(PROMPTS, np.random.default_rng(0))
    images = generate(model, prompts, seed=1, steps=1, guidance=mitigation.guidance(3.0), prepare=mitigation.prepare,
                      progress=False)
    return images, mitigation.extra_unet_evals_per_image


def test_every_inference_mitigation_plugs_into_generate_changes_generations_and_reports_its_cost(model):
    baseline, _ = _generate(model, "none")
    for name in INFERENCE:
        images, cost = _generate(model, name)
        assert (name == "none") == np.array_equal(images, baseline), name
        expected = {"embedding_optimisation": 3.0, "initial_noise": 4.0}.get(name, 0.0)  # 1 + 2, 2 × 2 passes
        assert cost == expected, name


def test_training_filter_drops_samples_in_a_real_run(tmp_path, shapes):
    config = Training(steps=1, batch_size=4, lr=1e-3, warmup_steps=0, p_uncond=0.0)
    hooks = training_hooks("filter", threshold=1e-9)  # every captioned sample pulls harder than this
    log = train(tiny_model(), TrainingSet(shapes, "instance"), config, tmp_path / "a.pt", hooks=hooks).log
    assert [r["kept"] for r in log] == [0.0] and [r["loss"] for r in log] == [0.0]
