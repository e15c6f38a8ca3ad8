import copy

import pytest
import yaml

from copyscope import config, validation
from copyscope.paths import params_file

RAW = yaml.safe_load(params_file().read_text())


def test_every_scale_of_the_committed_params_is_valid():
    for scale in RAW["scales"]:
        params = config.resolve(RAW, scale)
        assert params.scale == scale
        for spec in params.models.values():
            assert spec.training.steps >= 1


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
        config.resolve(raw, "full")
    raw = copy.deepcopy(RAW)
    raw["training"]["lr"] = -1
    with pytest.raises(config.ConfigError, match="training.lr"):
        config.resolve(raw, "full")


def test_references_between_sections_are_checked():
    raw = copy.deepcopy(RAW)
    raw["models"]["cond-instance"]["dataset"] = "nowhere"
    with pytest.raises(config.ConfigError, match="unknown dataset 'nowhere'"):
        config.resolve(raw, "full")
    raw = copy.deepcopy(RAW)
    raw["models"]["cond-instance"]["training"] = {"batch_size": 0}
    with pytest.raises(config.ConfigError, match="batch_size"):
        config.resolve(raw, "full")
    raw = copy.deepcopy(RAW)
    raw["conditioning"]["models"].append("ghost")
    with pytest.raises(config.ConfigError, match="conditioning.models names unknown model 'ghost'"):
        config.resolve(raw, "full")


def test_model_training_overrides_apply_to_that_model_only():
    raw = copy.deepcopy(RAW)
    raw["models"]["other"] = {**raw["models"]["cond-instance"], "training": {"steps": 3}}
    raw["models"]["plain"] = {key: value for key, value in raw["models"]["cond-instance"].items() if key != "training"}
    params = config.resolve(raw, "full")
    assert params.models["other"].training.steps == 3
    assert params.models["plain"].training.steps == params.training.steps


def test_a_model_not_trained_at_a_scale_cannot_be_read_and_twins_need_their_baseline():
    raw = copy.deepcopy(RAW)
    raw["models"]["cond-instance"]["seeds"] = 0
    with pytest.raises(config.ConfigError, match="conditioning.models reads model 'cond-instance', which has seeds: 0"):
        config.resolve(raw, "full")
    raw = copy.deepcopy(RAW)
    raw["mitigation"]["baseline"] = None
    with pytest.raises(config.ConfigError, match="need a baseline twin"):
        config.resolve(raw, "full")
    raw["mitigation"]["baseline"] = "mit-base"
    raw["models"]["mit-base"]["seeds"], raw["models"]["mit-mc"]["seeds"] = 3, 2
    with pytest.raises(config.ConfigError, match="as many seeds as their baseline"):
        config.resolve(raw, "full")


@pytest.mark.parametrize("change", [{"finetune": "ghost"}, {"finetune": "cond-instance"},
                                    {"finetune": "mit-base"}, {"dataset": "shapes"}])
def test_a_fine_tuned_model_starts_from_a_model_of_its_dataset_trained_from_scratch(change):
    raw = copy.deepcopy(RAW)
    raw["models"]["other"] = {**raw["models"]["mit-base"], **change}
    with pytest.raises(config.ConfigError, match="models.other.finetune: .* must be a model trained from scratch"):
        config.resolve(raw, "full")
    raw["models"]["other"] = {**raw["models"]["mit-base"], "finetune": "detect", "seeds": 1}
    raw["models"]["detect"]["seeds"] = 0
    raw["mitigation"]["inference_model"] = raw["detection"]["model"] = "other"
    with pytest.raises(config.ConfigError, match="finetune: .detect. must"):  # the base is not trained at this scale
        config.resolve(raw, "full")


def test_yaml_anchors_give_mitigation_models_the_baseline_data():
    params = config.resolve(RAW, "smoke")
    baseline = params.models[params.mitigation.baseline]
    for name in params.mitigation.training:
        spec = params.models[name]
        assert spec.mitigation.name != "none"
        assert spec.model_dump(exclude={"mitigation"}) == baseline.model_dump(exclude={"mitigation"})


def test_deep_validation_builds_mitigations_and_the_schema_alone_does_not():
    raw = copy.deepcopy(RAW)
    raw["models"]["mit-gn"]["mitigation"]["params"] = {"sigma": 0.1}
    params = config.resolve(raw, "full")
    assert params.models["mit-gn"].mitigation.params == {"sigma": 0.1}
    with pytest.raises(config.ConfigError, match="models.mit-gn.mitigation: .*unknown parameter"):
        validation.check(params)
    raw = copy.deepcopy(RAW)
    raw["mitigation"]["inference"]["nope"] = {}
    with pytest.raises(config.ConfigError, match="mitigation.inference.nope: unknown inference-time mitigation"):
        validation.check(config.resolve(raw, "full"))
    raw = copy.deepcopy(RAW)
    raw["extractors"]["candidates"] = ["pixel", "sscd_disk_mixup"]
    with pytest.raises(config.ConfigError, match="unknown extractor.*'sscd_disk_mixup'"):
        validation.check(config.resolve(raw, "full"))
    raw = copy.deepcopy(RAW)
    raw["mitigation"]["inference"]["rt"] = {"n_tokens": [1], "p": [0.5]}
    with pytest.raises(config.ConfigError, match="sweep one parameter"):
        config.resolve(raw, "full")


def test_an_error_in_a_models_own_training_override_names_its_path_once():
    raw = copy.deepcopy(RAW)
    raw["models"]["detect"]["training"] = {"steps": "many"}
    with pytest.raises(config.ConfigError, match=r"models\.detect\.training\.steps: Input should be a valid"):
        config.resolve(raw, "full")
    raw = copy.deepcopy(RAW)
    raw["training"]["lr"] = 5
    with pytest.raises(config.ConfigError) as err:
        config.resolve(raw, "full")
    assert str(err.value).count("lr") == 1  # the shared section's error, not once more per model


def test_inference_sweeps_expand_to_one_point_per_value():
    params = config.resolve(RAW, "default")
    points = params.mitigation.inference_points()
    assert ("rt", {"n_tokens": 4}) in points and ("dynamic_transition", {}) in points
    assert len(points) == sum(len(next(iter(sweep.values()))) if sweep else 1
                              for sweep in RAW["mitigation"]["inference"].values())


def test_default_leaves_out_only_what_no_key_contrast_rests_on():
    """The budget's trade: `default` keeps the benchmark world, 3 seeds on every key contrast and the emoji study;
    it drops the shapes size sweep and the one-seed caption cells, which `full` still runs."""
    default, full = config.resolve(RAW, "default"), config.resolve(RAW, "full")
    key_contrasts = [*default.replication.models, "cond-uncond", "cond-instance", "cond-dup-pair", "cond-dup-image",
                     default.mitigation.baseline, *default.mitigation.training]
    assert default.replication.models == ["faces-1", "faces-2", "faces-3"]
    assert all(default.models[name].seeds >= 3 for name in key_contrasts)
    assert default.models["detect"] == full.models["detect"] and default.datasets == full.datasets
    assert default.models["emoji"].seeds == 1 and default.replication.emoji_model == "emoji"
    dropped = {name for name, spec in default.models.items() if not spec.seeds}
    assert dropped == {"shapes-1", "shapes-2", "shapes-3", "cond-none", "cond-class", "cond-random"}
    assert all(full.models[name].seeds >= 1 for name in dropped)
    left_out = set(full.conditioning.models) - set(default.conditioning.models)
    assert left_out == {"cond-none", "cond-class", "cond-random"}
