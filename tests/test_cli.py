"""Bad input at the command line: one line naming the problem, exit code 2, and nothing written."""
import re
import sys

import pytest
import yaml

from copyscope.__main__ import main
from copyscope.paths import params_file


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty checkout at the smoke scale: params.yaml only, nothing prepared or trained."""
    raw = yaml.safe_load(params_file().read_text())
    raw["scale"] = "smoke"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))
    monkeypatch.delenv("COPYSCOPE_DEBUG", raising=False)
    return tmp_path


def edit(root, change):
    raw = yaml.safe_load((root / "params.yaml").read_text())
    change(raw)
    (root / "params.yaml").write_text(yaml.safe_dump(raw))


def fails_cleanly(capsys, root, argv, pattern):
    """Exit code 2, one line on stderr matching `pattern`, and no file written under data/."""
    written_before = set((root / "data").rglob("*")) if (root / "data").exists() else set()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(pattern, err), err
    written = set((root / "data").rglob("*")) if (root / "data").exists() else set()
    assert written == written_before, sorted(map(str, written - written_before))


def test_a_misspelt_extractor_stops_the_extractors_and_params_stages_before_any_work(root, capsys):
    main(["prepare", "heldout"])
    edit(root, lambda raw: raw["extractors"].update(candidates=["pixel", "sscd_disk_mixup"]))
    fails_cleanly(capsys, root, ["extractors"], r"extractors\.candidates: unknown extractor.*'sscd_disk_mixup'")
    fails_cleanly(capsys, root, ["params"], r"extractors\.candidates: unknown extractor")


def test_a_chosen_extractor_without_its_weights_names_the_missing_file(root, capsys):
    main(["prepare", "heldout"])
    edit(root, lambda raw: raw["extractors"].update(use="sscd_disc_mixup"))
    for command in ("params", "extractors"):
        fails_cleanly(capsys, root, [command], r"SSCD weights .* not found at .*data/downloads/sscd/")


@pytest.mark.parametrize("change, pattern", [
    (lambda raw: raw["models"]["mit-rc"]["mitigation"]["params"].update(n_tokns=4),
     r"models\.mit-rc\.mitigation: .*unknown parameter.*n_tokns"),
    (lambda raw: raw["mitigation"]["inference"].update(nope={}),
     r"mitigation\.inference\.nope: unknown inference-time mitigation"),
    (lambda raw: raw["scales"]["smoke"]["models"]["detect"]["training"].update(steps="many"),
     r"models\.detect\.training\.steps: Input should be a valid integer"),
])
def test_bad_mitigations_and_training_overrides_stop_training_before_any_work(root, capsys, change, pattern):
    edit(root, change)
    fails_cleanly(capsys, root, ["train", "mit-rc"], pattern)


def test_a_missing_image_folder_is_a_one_line_data_error(root, capsys):
    edit(root, lambda raw: raw["datasets"].update(mine={"kind": "folder", "path": str(root / "nowhere"),
                                                        "resolution": 16}))
    fails_cleanly(capsys, root, ["prepare", "mine"], r"image folder .*nowhere does not exist")


def test_a_stage_whose_inputs_are_missing_says_which_stage_to_run(root, capsys):
    fails_cleanly(capsys, root, ["train", "shapes-1"], r"no prepared dataset at .*shapes: run `dvc repro`")


@pytest.mark.parametrize("argv, message", [
    (["train"], "train takes one or more names, got 0"), (["prepare"], "prepare takes one name, got 0"),
    (["notebook", "replication", "detection"], "notebook takes one name, got 2"),
    (["extractors", "shapes"], "extractors takes no name, got 1"),
])
def test_each_command_takes_its_number_of_names(root, capsys, argv, message):
    fails_cleanly(capsys, root, argv, message)


def test_unknown_names_and_scales(root, capsys):
    fails_cleanly(capsys, root, ["train", "nope"], r"train: unknown name 'nope'; known: .*shapes-1")
    fails_cleanly(capsys, root, ["train", "shapes-1", "nope"], r"train: unknown name 'nope'")
    fails_cleanly(capsys, root, ["params", "--scale", "huge"], r"scale 'huge' is not one of the scales")


def test_debug_mode_shows_the_traceback(root, monkeypatch):
    monkeypatch.setenv("COPYSCOPE_DEBUG", "1")
    with pytest.raises(Exception, match="unknown name"):
        main(["train", "nope"])


def test_a_model_with_no_seeds_leaves_an_empty_folder_without_importing_the_train_stage(root, monkeypatch):
    stale = root / "data" / "models" / "mit-base" / "seed-0"
    stale.mkdir(parents=True)
    edit(root, lambda raw: (raw["scales"]["smoke"]["models"]["mit-base"].update(seeds=0),
                            raw["scales"]["smoke"]["mitigation"].update(baseline=None, training=[])))
    monkeypatch.delitem(sys.modules, "copyscope.stages.train", raising=False)
    assert main(["train", "mit-base"]) == 0
    assert stale.parent.is_dir() and not any(stale.parent.iterdir())
    assert "copyscope.stages.train" not in sys.modules
