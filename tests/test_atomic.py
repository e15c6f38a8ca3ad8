import json

import numpy as np
import pytest

from copyscope.atomic import atomic_directory, atomic_file, write_json


def test_directory_is_replaced_only_on_success(tmp_path):
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "a").write_text("2")
            raise RuntimeError("killed")
    assert (target / "a").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_file_is_replaced_only_on_success(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_file(target) as handle:
            handle.write("{broken")
            raise RuntimeError("killed")
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"a":1}'
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_write_json_writes_strict_json_with_null_for_nan(tmp_path):
    write_json(tmp_path / "m.json", {"a": float("nan"), "b": [np.float32(1.5), np.inf], "c": {"d": np.int64(3)}})
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.5, None], "c": {"d": 3}}
