"""The whole study, end to end: `dvc repro` at the smoke scale in a temporary copy of the repository."""
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from copyscope.artifacts.models import RECORD
from copyscope.config import STUDIES
from copyscope.paths import repo_root
from copyscope.report import is_flat
from copyscope.repro_timing import copy_checkout, study_environment, timed_repro
from tests.test_notebook_flow import WRITES


def _run(args, cwd, **kwargs):
    result = subprocess.run(args, cwd=cwd, env=study_environment(cwd), capture_output=True, text=True, **kwargs)
    if result.returncode:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """`dvc repro` at the smoke scale, timed per stage, in a committed copy of this checkout."""
    root = copy_checkout(repo_root(), tmp_path_factory.mktemp("study"), "smoke")
    return root, timed_repro(root)


def _declared_outputs(root: Path, study: str) -> set[str]:
    stage = yaml.safe_load((root / "dvc.yaml").read_text())["stages"][study]
    return {e if isinstance(e, str) else next(iter(e)) for e in stage["outs"]}


@pytest.mark.parametrize("study", STUDIES)
def test_repro_writes_each_studys_declared_metrics_figures_and_notebook(reproduced, study):
    root, _ = reproduced
    metrics = json.loads((root / "figures" / study / "metrics.json").read_text())
    assert metrics["scale"] == "smoke"
    assert _declared_outputs(root, study) == {f"data/executed/{study}.ipynb", f"figures/{study}"}
    written = {p.name for p in (root / "figures" / study).iterdir()}
    assert written == WRITES[study]  # what the notebook writes, and nothing left over from another run
    for name in written:
        assert (root / "figures" / study / name).stat().st_size > (1000 if name.endswith(".png") else 10), name
    executed = json.loads((root / "data" / "executed" / f"{study}.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "scale = \"smoke\"" in "".join(injected[0]["source"])


def test_study_metrics_are_flat_headline_numbers(reproduced):
    root, _ = reproduced
    read = lambda study: json.loads((root / "figures" / study / "metrics.json").read_text())
    metrics = {study: read(study) for study in STUDIES}
    for study, values in metrics.items():
        assert is_flat(values), study  # scalars, and [low, high] pairs under *_ci95 keys
        assert len(values) <= 50, study
    assert len(set().union(*metrics.values())) <= 150  # `dvc metrics show` columns (the emoji section adds 11)
    assert -1 <= metrics["replication"]["shapes_similarity_p95_rho"] <= 1
    assert {"verdict_captions", "verdict_image_caption_duplication", "verdict_image_duplication"} <= set(
        metrics["conditioning"])
    assert all(metrics[study]["summary"].endswith("findings hold") for study in STUDIES)
    assert metrics["replication"]["seeds"] == metrics["conditioning"]["seeds"] == 2  # smoke trains two seeds
    assert metrics["mitigation"]["mitigations_tested"] >= 7
    assert 0 <= metrics["detection"]["wen_first_step_n1_auc"] <= 1
    assert 0 <= metrics["detection"]["wen_first_step_n1_auc_untrained"] <= 1


def test_no_wall_clock_time_in_metrics_or_tables(reproduced):
    root, _ = reproduced
    for path in (root / "figures").glob("*/*"):
        if path.suffix in (".csv", ".json") and path.name != "timing.json":
            assert "second" not in path.read_text(), path


def test_timing_covers_every_stage_once(reproduced):
    root, timing = reproduced
    stages = set(_run(["dvc", "stage", "list", "--name-only"], root).stdout.split())
    assert set(timing["stages"]) == stages and {"train", "train-mitigation"} <= stages
    assert set(timing["groups"]) == {"params", "prepare", "train", "extractors", "alignment", *STUDIES}
    assert 0 < sum(timing["stages"].values()) <= timing["total_seconds"] + 1


def test_second_repro_does_nothing(reproduced):
    root, _ = reproduced
    out = _run(["dvc", "repro"], root).stdout
    assert "up to date" in out and "Running stage" not in out


def _flagged(root: Path) -> set[str]:
    """The stages `dvc status` says would rerun."""
    return set(re.findall(r"(?m)^([\w@.-]+):$", _run(["dvc", "status"], root).stdout))


@pytest.mark.parametrize("override, changed, rerun", [
    ("      shapes-2: {n_train: 16,", "      shapes-2: {n_train: 12,", {"train", "replication"}),
    ("      detect: {n_train: 64,", "      detect: {n_train: 48,", {"train", "detection", "mitigation"}),
    ("training: &smoke_twin {steps: 12, batch_size: 8,", "training: &smoke_twin {steps: 12, batch_size: 4,",
     {"train-mitigation", "mitigation"}),  # the twins' shared training
    ("      mit-rt: {n_train: 192,", "      mit-rt: {n_train: 96,", set()),  # a gpu override: not read at smoke
])
def test_one_override_reruns_only_its_model_and_the_studies_that_read_it(reproduced, override, changed, rerun):
    root, _ = reproduced
    params = root / "params.yaml"
    original = params.read_text()
    edited = original.replace(override, changed, 1)
    assert edited != original
    try:
        params.write_text(edited)
        _run(["dvc", "repro", "params"], root)
        assert _flagged(root) == rerun
    finally:
        params.write_text(original)
        _run(["dvc", "repro", "params"], root)
    assert _flagged(root) == set()


def test_dvc_metrics_and_plots_commands_work(reproduced):
    root, _ = reproduced
    assert "wen_first_step_n1_auc" in _run(["dvc", "metrics", "show"], root).stdout
    _run(["dvc", "plots", "show", "-o", str(root / "dvc_plots")], root)
    assert (root / "dvc_plots" / "index.html").is_file()


def test_rerunning_a_train_stage_retrains_only_the_model_whose_values_changed(reproduced):
    root, _ = reproduced
    params = root / "params.yaml"
    original = params.read_text()
    records = lambda: {m: (root / "data" / "models" / m / "seed-0" / RECORD).stat().st_mtime_ns
                       for m in ("shapes-1", "shapes-2", "faces-1", "detect")}
    before = records()
    try:
        params.write_text(original.replace("      shapes-2: {n_train: 16,", "      shapes-2: {n_train: 12,", 1))
        _run(["dvc", "repro", "train"], root)
        after = records()
    finally:
        params.write_text(original)
        _run(["dvc", "repro", "train"], root)
    assert after["shapes-2"] != before["shapes-2"]
    assert all(after[m] == before[m] for m in ("shapes-1", "faces-1", "detect"))
