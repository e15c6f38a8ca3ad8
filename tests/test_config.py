import copy

import pytest
import yaml

from copyscope import config
from copyscope.paths import params_file

RAW = yaml.safe_load(params_file().read_text())


def test_every_scale_of_the_committed_params_is_valid():
    for scale in RAW["scales"]:
        params = config.resolve(RAW, scale)
        assert params.scale == scale
        for model in params.models:
            params.training_for(model)


def test_scale_overrides_merge_into_the_defaults():
    raw = copy.deepcopy(RAW)
    raw["scales"]["smoke"] = {"training": {"steps": 7}}
    params = config.resolve(raw, "smoke")
    assert params.training.steps == 7
    assert params.training.lr == RAW["training"]["lr"]


def test_unknown_scale_is_rejected_with_the_known_ones():
    with pytest.raises(config.ConfigError, match="'huge'.*default"):
        config.resolve(RAW, "huge")


def test_typo_and_bad_values_name_the_key():
    raw = copy.deepcopy(RAW)
    raw["training"]["stpes"] = 3
    with pytest.raises(config.ConfigError, match="training.stpes"):
        config.resolve(raw, "default")
    raw = copy.deepcopy(RAW)
    raw["training"]["lr"] = -1
    with pytest.raises(config.ConfigError, match="training.lr"):
        config.resolve(raw, "default")


def test_references_between_sections_are_checked():
    raw = copy.deepcopy(RAW)
    raw["models"]["slice"]["dataset"] = "nowhere"
    with pytest.raises(config.ConfigError, match="unknown dataset 'nowhere'"):
        config.resolve(raw, "default")
    raw = copy.deepcopy(RAW)
    raw["models"]["slice"]["training"] = {"batch_size": 0}
    with pytest.raises(config.ConfigError, match="batch_size"):
        config.resolve(raw, "default")


def test_model_training_overrides_apply_to_that_model_only():
    raw = copy.deepcopy(RAW)
    raw["models"]["other"] = {**raw["models"]["slice"], "training": {"steps": 3}}
    params = config.resolve(raw, "default")
    assert params.training_for("other").steps == 3
    assert params.training_for("slice").steps == params.training.steps
