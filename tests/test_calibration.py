"""The extractor stage's choice, read back by the studies."""
import json

import pytest

from copyscope.artifacts import calibration
from copyscope.embed.pixel import PixelExtractor


def test_a_chosen_pixel_extractor_is_built_at_the_data_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("COPYSCOPE_ROOT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="dvc repro extractors"):
        calibration.load_calibration()
    saved = calibration.Calibration(extractor="pixel", threshold=0.9, calibrated=True, precision=0.95, resolution=8,
                                    table=[], curves={}, skipped={})
    (tmp_path / "data" / "extractors").mkdir(parents=True)
    (tmp_path / "data" / "extractors" / calibration.RESULT).write_text(json.dumps(saved.__dict__))
    extractor = calibration.load_calibration().build_extractor()
    assert isinstance(extractor, PixelExtractor) and extractor.size == 8
