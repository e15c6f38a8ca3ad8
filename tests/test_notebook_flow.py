"""Every study notebook's code, cell by cell, on tiny untrained models at the smoke scale: the cells call the lib
API as it is (no NameError, no missing attribute), write exactly the files their stage declares, flat metrics that a
conclusion renders, and the same bytes again on a rerun (wall-clock seconds only in timing.json)."""
import json

import matplotlib
import numpy as np
import pytest

from copyscope.artifacts import alignment
from copyscope.config import STUDIES
from copyscope.paths import repo_root

NOTEBOOKS = repo_root() / "notebooks"
from copyscope.report import is_flat
from copyscope.data.sources import emoji_set
from copyscope.studies import conditioning, detection, emoji, mitigation, replication, session
from tests import study_fakes

matplotlib.use("Agg")

WRITES = {
    "replication": {"extractors.csv", "extractors_pr.csv", "extractors_pr.png", "size.csv", "histograms.png",
                    "size_curve.png", "galleries.png", "emoji.csv", "emoji_families.csv", "emoji_families.png",
                    "emoji_histogram.png", "emoji_gallery.png", "metrics.json", "timing.json"},
    "conditioning": {"cells.csv", "bars.png", "histograms.png", "galleries.png", "most_copied.csv", "metrics.json",
                     "timing.json"},
    "mitigation": {"mitigations.csv", "changes.png", "tradeoff.png", "galleries.png", "metrics.json", "timing.json"},
    "detection": {"magnitude_per_step.csv", "magnitude_per_step.png", "leaderboard.csv", "roc.csv", "roc.png",
                  "token_significance.png", "token_edits.csv", "metrics.json", "timing.json"},
}


def code_cells(study: str) -> list[str]:
    notebook = json.loads((NOTEBOOKS / f"{study}.ipynb").read_text())
    return ["".join(c["source"]) for c in notebook["cells"]
            if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", [])]


@pytest.fixture
def fakes(shapes, scenes, tmp_path, monkeypatch):
    """Stage outputs faked: every model is one tiny untrained model over the first shapes (the detection and
    mitigation studies: over the first scenes, two template families and two MV duplicates; the emoji model over
    ten emoji, one skin-tone family), the pixel extractor at threshold 0.9, a constant alignment score; the
    repository root a temporary folder."""
    params = study_fakes.smoke_params()
    trained = study_fakes.trained_on(shapes, n=6, duplicated=(0, 1))
    benchmark = study_fakes.trained_on(scenes, n=12, duplicated=(6, 7))
    for module in (replication, conditioning):
        monkeypatch.setattr(module, "load_with_training_images", lambda name, seed=0: (trained, shapes.images[:6]))
    monkeypatch.setattr(mitigation, "load_with_training_images", lambda name, seed=0: (benchmark, scenes.images[:12]))
    pool = emoji_set(16, {1: 4, 6: 1}, seed=0)
    emoji_model = study_fakes.trained_on(pool, n=len(pool), duplicated=())
    monkeypatch.setattr(emoji, "training_pool", lambda study: pool)
    monkeypatch.setattr(emoji, "load_with_training_images", lambda name, seed=0: (emoji_model, pool.images))
    monkeypatch.setattr(detection, "load_model", lambda study: (benchmark, scenes.images[:12], scenes))
    monkeypatch.setattr(detection, "untrained_model", lambda params, name: study_fakes.tiny_model(seed=1))
    monkeypatch.setattr(alignment, "alignment_correctness", lambda: {"auc": 0.7, "auc_per_attribute": {"colour": 0.9}})
    monkeypatch.setattr(alignment, "alignment_scorer", lambda: lambda imgs, prompts: np.full(len(imgs), 0.5))

    def run(study: str, root):
        monkeypatch.setenv("COPYSCOPE_ROOT", str(root))
        monkeypatch.setattr(session, "open_study", lambda name, scale: study_fakes.study(
            name, root / "figures" / name, params))
        namespace = {"scale": "smoke"}
        for source in code_cells(study):
            exec(compile(source, f"{study}.ipynb", "exec"), namespace)
        matplotlib.pyplot.close("all")
        return namespace

    return run


@pytest.mark.parametrize("study", STUDIES)
def test_each_notebook_runs_on_the_lib_api_and_reproduces_its_files(fakes, tmp_path, study, capsys):
    namespace = fakes(study, tmp_path / "first")
    folder = tmp_path / "first" / "figures" / study
    assert {p.name for p in folder.iterdir()} == WRITES[study]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert is_flat(metrics) and metrics == namespace["metrics"] and metrics["scale"] == "smoke"
    module = namespace[study]
    assert module.conclusion(metrics) == module.conclusion(namespace["metrics"]) and module.caption(metrics)
    assert "seconds" not in "".join((folder / f).read_text() for f in WRITES[study] if f.endswith((".csv", "s.json")))
    fakes(study, tmp_path / "second")
    again = tmp_path / "second" / "figures" / study
    for name in sorted(WRITES[study] - {"timing.json"}):
        if not name.endswith(".png"):
            assert (again / name).read_bytes() == (folder / name).read_bytes(), name
