"""A study's outputs: flat metrics as JSON reads them back, tables, figures, and timing kept apart."""
import json

import numpy as np
import pandas as pd
import pytest

from copyscope.report import StudyOutputs, headline, is_flat


def test_headline_is_flat_and_as_json_reads_it():
    values = headline({"a": np.float32(0.5), "b": np.int64(3), "c": float("nan"), "d": True, "e": "x", "f": None})
    assert values == {"a": 0.5, "b": 3, "c": None, "d": True, "e": "x", "f": None}
    assert type(values["a"]) is float and type(values["b"]) is int and is_flat(values)
    with pytest.raises(ValueError, match="'nested' is a dict"):
        headline({"nested": {"x": 1}})
    assert not is_flat({"nested": {"x": 1}}) and not is_flat({"list": [1]})


def test_outputs_write_metrics_tables_and_timing_into_the_study_folder(tmp_path):
    outputs = StudyOutputs("replication", tmp_path / "figures" / "replication")
    outputs.metrics({"scale": "smoke", "auc": np.float64(0.75), "rho": np.nan})
    assert json.loads((outputs.folder / "metrics.json").read_text()) == {"auc": 0.75, "rho": None, "scale": "smoke"}
    outputs.timing({"seconds_per_image": {"m": 0.1}})
    assert json.loads((outputs.folder / "timing.json").read_text()) == {"seconds_per_image": {"m": 0.1}}
    outputs.table(pd.DataFrame({"x": [1.0 / 3]}), "t.csv")
    assert (outputs.folder / "t.csv").read_text() == "x\n0.333333\n"
    with pytest.raises(ValueError):
        outputs.metrics({"nested": {"x": 1}})
