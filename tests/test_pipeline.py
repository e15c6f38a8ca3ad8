"""The whole study, end to end: `dvc repro` at the smoke scale in a temporary copy of the repository."""
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from copyscope.__main__ import STUDIES
from copyscope.paths import repo_root
from copyscope.repro_timing import copy_checkout, study_environment, timed_repro


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
    entries = [e for kind in ("outs", "metrics", "plots") for e in stage.get(kind, [])]
    return {e if isinstance(e, str) else next(iter(e)) for e in entries}


@pytest.mark.parametrize("study", STUDIES)
def test_repro_writes_each_studys_declared_metrics_figures_and_notebook(reproduced, study):
    root, _ = reproduced
    metrics = json.loads((root / "figures" / study / "metrics.json").read_text())
    assert metrics["scale"] == "smoke"
    written = {str(p.relative_to(root)) for p in (root / "figures" / study).iterdir()}
    assert written == {o for o in _declared_outputs(root, study) if o.startswith("figures/")}
    for name in written:
        assert (root / name).stat().st_size > (1000 if name.endswith(".png") else 10), name
    executed = json.loads((root / "data" / "executed" / f"{study}.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "scale = \"smoke\"" in "".join(injected[0]["source"])


def test_study_metrics_hold_their_measurements(reproduced):
    root, _ = reproduced
    read = lambda study: json.loads((root / "figures" / study / "metrics.json").read_text())
    replication = read("replication")
    assert set(replication["models"]) == {"shapes-1", "shapes-2", "shapes-3", "shapes-4", "faces-1",
                                          "faces-2", "faces-3"}
    assert all(-1 <= m["similarity_mean"] <= 1 for m in replication["models"].values())
    conditioning = read("conditioning")
    assert "instance_vs_unconditional" in conditioning["phenomena"]
    assert len(conditioning["phenomena"]["duplicated_vs_not"]) == 2
    assert len(read("mitigation")["lowers_copying"]) >= 7
    assert 0 <= read("detection")["wen_first_step_auc"] <= 1


def test_timing_covers_every_stage_once(reproduced):
    root, timing = reproduced
    stages = set(_run(["dvc", "stage", "list", "--name-only"], root).stdout.split())
    assert set(timing["stages"]) == stages and "train@detect" in stages
    assert set(timing["groups"]) == {"prepare", "train", "extractors", "alignment", *STUDIES}
    assert 0 < sum(timing["stages"].values()) <= timing["total_seconds"] + 1


def test_second_repro_does_nothing(reproduced):
    root, _ = reproduced
    out = _run(["dvc", "repro"], root).stdout
    assert "up to date" in out and "Running stage" not in out


def test_dvc_metrics_and_plots_commands_work(reproduced):
    root, _ = reproduced
    assert "wen_first_step_auc" in _run(["dvc", "metrics", "show"], root).stdout
    _run(["dvc", "plots", "show", "-o", str(root / "dvc_plots")], root)
    assert (root / "dvc_plots" / "index.html").is_file()
