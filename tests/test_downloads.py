import pytest

from copyscope.downloads import MissingWeights, require


def test_require_finds_files_under_the_downloads_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("COPYSCOPE_DOWNLOADS", str(tmp_path))
    (tmp_path / "w.pt").write_bytes(b"x")
    assert require("w.pt", "weights", "https://example.org/w.pt") == tmp_path / "w.pt"


def test_missing_file_names_itself_its_source_and_destination(monkeypatch, tmp_path):
    monkeypatch.setenv("COPYSCOPE_DOWNLOADS", str(tmp_path))
    with pytest.raises(MissingWeights, match=r"SSCD.*not found at .*sscd\.pt.*https://x/sscd\.pt"):
        require("sscd.pt", "SSCD", "https://x/sscd.pt")
