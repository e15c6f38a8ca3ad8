"""dvc.yaml agrees with params.yaml and the notebooks: every model a study reads, and every copyscope module its
notebook imports, is a dependency of its stage."""
import ast
import json

import pytest
import yaml

from copyscope import config
from copyscope.__main__ import STUDIES
from copyscope.paths import repo_root

STAGES = yaml.safe_load((repo_root() / "dvc.yaml").read_text())["stages"]


def test_each_study_stage_depends_on_exactly_the_models_its_params_name():
    params = config.load("default", deep=False)
    wanted = {study: set() for study in STUDIES}
    for key, model in params.study_models():
        wanted[key.split(".")[0]].add(f"data/models/{model}")
    for study in STUDIES:
        deps = {d for d in STAGES[study]["deps"] if d.startswith("data/models/")}
        assert deps == wanted[study], study


def test_each_study_stage_runs_its_notebook():
    for study in STUDIES:
        assert STAGES[study]["cmd"] == f"python -m copyscope notebook {study}"
        assert f"notebooks/{study}.ipynb" in STAGES[study]["deps"]


def _imported_library_paths(study: str) -> set[str]:
    """lib/ paths of the copyscope modules the study's notebook imports directly (`from copyscope.x import y`: the
    module y if it is one, else x)."""
    notebook = json.loads((repo_root() / "notebooks" / f"{study}.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "copyscope":
            for alias in node.names:
                for dotted in (f"{node.module}.{alias.name}", node.module):
                    path = "lib/" + dotted.replace(".", "/")
                    existing = [p for p in (path, f"{path}.py") if (repo_root() / p).exists()]
                    if existing:
                        found.add(existing[0])
                        break
    return found


@pytest.mark.parametrize("study", STUDIES)
def test_each_study_stage_depends_on_the_library_modules_its_notebook_imports(study):
    deps = [d for d in STAGES[study]["deps"] if d.startswith("lib/")]
    imported = _imported_library_paths(study)
    assert f"lib/copyscope/studies/{study}.py" in imported
    missing = {p for p in imported if not any(p == d or p.startswith(f"{d}/") for d in deps)}
    assert not missing, f"{study}: dvc.yaml deps lack {sorted(missing)}"
