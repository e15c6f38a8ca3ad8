"""The whole study, end to end: `dvc repro` at the smoke scale in a temporary copy of the repository."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from copyscope.paths import repo_root

BIN = Path(sys.executable).parent


def _run(args, cwd, **kwargs):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COPYSCOPE_ROOT": str(cwd)}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, **kwargs)
    if result.returncode:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def smoke_copy(tmp_path_factory):
    """A committed copy of this checkout (tracked and untracked-but-not-ignored files) set to the smoke scale."""
    src = repo_root()
    dst = tmp_path_factory.mktemp("study")
    files = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], src).stdout.split("\0")
    for name in filter(None, files):
        if (src / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dst / name)
    params = dst / "params.yaml"
    params.write_text(re.sub(r"(?m)^scale: \w+", "scale: smoke", params.read_text()))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    _run([*git, "init", "-q"], dst)
    _run([*git, "add", "-A"], dst)
    _run([*git, "commit", "-qm", "copy"], dst)
    return dst


@pytest.fixture(scope="module")
def reproduced(smoke_copy):
    result = _run(["dvc", "repro"], smoke_copy, timeout=900)
    return smoke_copy, result.stdout


def test_repro_writes_metrics_figures_and_executed_notebooks(reproduced):
    root, _ = reproduced
    metrics = json.loads((root / "figures/replication/metrics.json").read_text())
    assert metrics["scale"] == "smoke"
    assert 0 < metrics["generations"]["n"] and -1 <= metrics["generations"]["mean"] <= 1
    for png in ("histogram.png", "gallery.png"):
        assert (root / "figures/replication" / png).stat().st_size > 1000
    executed = json.loads((root / "data/executed/replication.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "scale = \"smoke\"" in "".join(injected[0]["source"])


def test_second_repro_does_nothing(reproduced):
    root, _ = reproduced
    out = _run(["dvc", "repro"], root).stdout
    assert "up to date" in out and "Running stage" not in out


def test_dvc_metrics_and_plots_commands_work(reproduced):
    root, _ = reproduced
    assert "generations.mean" in _run(["dvc", "metrics", "show"], root).stdout
    _run(["dvc", "plots", "show", "-o", str(root / "dvc_plots")], root)
    assert (root / "dvc_plots" / "index.html").is_file()
