"""Opening a study: params validated deeply, the calibration read, the extractor built and checked, and only then
figures/<study>/ prepared."""
import json
import shutil
from dataclasses import asdict

import pytest

from copyscope.config import ConfigError
from copyscope.errors import MissingOutput
from copyscope.paths import repo_root
from copyscope.studies.evaluation import Matcher
from copyscope.studies.session import check_matcher, open_study
from tests import study_fakes


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A repository root with params.yaml (smoke scale) and the extractor stage's calibration."""
    text = (repo_root() / "params.yaml").read_text().replace("scale: default", "scale: smoke", 1)
    (tmp_path / "params.yaml").write_text(text)
    shutil.copy(repo_root() / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "data" / "extractors").mkdir(parents=True)
    (tmp_path / "data" / "extractors" / "benchmark.json").write_text(json.dumps(asdict(study_fakes.calibration())))
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))
    return tmp_path


def test_open_study_gathers_params_calibration_extractor_and_outputs(root):
    study = open_study("conditioning")
    assert study.params.scale == "smoke" and study.section is study.params.conditioning
    assert study.sampling.steps == 3 and study.threshold == 0.9 and study.extractor.name == "pixel"
    assert study.matcher.similarity == "dot" and study.outputs.folder == root / "figures" / "conditioning"
    assert study.models == study.params.conditioning.models
    line = study.summary()
    assert "\n" not in line and "scale smoke, conditioning study: 7 model(s) trained on 8 images" in line
    assert "threshold 0.900 at precision 0.95" in line and "DDIM 3 steps" in line
    assert "4–all images" in open_study("replication").summary()  # the sweep's 4 to 24, the emoji model all


def test_the_replication_study_takes_its_similarity_from_params(root):
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("replication:\n", "replication:\n  similarity: split_product\n", 1))
    study = open_study("replication")
    assert study.matcher.similarity == "split_product" and study.matcher.split_chunks == 4
    assert "split product over 4 chunks" in study.summary()
    assert open_study("detection").matcher.similarity == "dot"


def test_nothing_is_written_before_everything_is_checked(root):
    params = root / "params.yaml"
    good = params.read_text()
    params.write_text(good.replace("  guidance: 2.0 ", "  guidance: -1.0 ", 1))
    with pytest.raises(ConfigError, match="sampling.guidance"):
        open_study("conditioning")
    params.write_text(good.replace("candidates: [pixel,", "candidates: [pixle,", 1))
    with pytest.raises(ConfigError, match="unknown extractor"):  # deep validation
        open_study("conditioning")
    params.write_text(good)
    (root / "data" / "extractors" / "benchmark.json").unlink()
    with pytest.raises(MissingOutput, match="dvc repro extractors"):
        open_study("conditioning")
    with pytest.raises(ConfigError, match="unknown study"):
        open_study("nonsense")
    assert not (root / "figures").exists()


def test_split_product_needs_tokens_that_split_evenly():
    check_matcher(Matcher(study_fakes.PixelExtractor(16), "split_product", 4), 16)
    with pytest.raises(ConfigError, match="split_chunks"):
        check_matcher(Matcher(study_fakes.PixelExtractor(16), "split_product", 3), 16)
    with pytest.raises(ConfigError, match="token features"):
        check_matcher(Matcher(lambda images: images, "split_product", 4), 16)
