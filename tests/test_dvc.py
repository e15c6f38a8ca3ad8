"""dvc.yaml and params.yaml agree: every model a study reads is a dependency of its stage."""
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
