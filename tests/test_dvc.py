"""dvc.yaml is correct by construction: every stage depends on exactly the copyscope modules it runs (the transitive
closure of its entry point's imports, and its notebook's), on the models its study reads, and on its own values in
data/stage_params.yaml."""
import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from copyscope import config
from copyscope.config import STUDIES
from copyscope.paths import repo_root
from copyscope.repro_timing import stage_group

ROOT = repo_root()
LIB = ROOT / "lib"
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
COMMAND = re.compile(r"^python -m copyscope (\w+)(?: \$\{key\}| ([\w -]+))?$")


def module_file(dotted: str) -> Path | None:
    """The file of a copyscope module or package, if it exists."""
    base = LIB / dotted.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(code: str, package: str = "copyscope") -> set[str]:
    """Dotted copyscope modules imported anywhere in `code` (function-level imports too: they run when called)."""
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == package}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == package:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if module_file(f"{node.module}.{a.name}")}
    return found


def closure(*entries: str) -> set[Path]:
    """Every copyscope file that importing the `entries` executes: their own files, their packages' __init__, and
    what those import, transitively (import cycles included)."""
    files, todo, seen = set(), list(entries), set()
    while todo:
        dotted = todo.pop()
        if dotted in seen:
            continue
        seen.add(dotted)
        parts = dotted.split(".")
        for path in {module_file(".".join(parts[:i])) for i in range(1, len(parts) + 1)} - {None} - files:
            files.add(path)
            todo += [m for m in imported_modules(path.read_text()) if module_file(m)]
    return files


def notebook_code(study: str) -> str:
    """The code of the study's notebooks: the embedded one and its Stable Diffusion version (one stage runs either,
    by scale)."""
    cells = [c for name in (study, f"sd_{study}")
             for c in json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def stage_modules(name: str, stage: dict) -> set[Path]:
    """The library files a stage runs: `python -m copyscope CMD` runs __main__ and copyscope.stages.CMD; a notebook
    stage also runs everything its notebook imports."""
    cmd = stage["do"]["cmd"] if "do" in stage else stage["cmd"]
    match = COMMAND.match(cmd)
    assert match, f"{name}: unexpected command {cmd!r}"
    entries = ["copyscope.__main__", f"copyscope.stages.{match.group(1)}"]
    if match.group(1) == "notebook":
        entries += imported_modules(notebook_code(match.group(2)))
    return closure(*entries)


def covered(deps: list[str]) -> set[Path]:
    """The .py files a stage's lib/ deps cover (a folder covers every module in it)."""
    files = set()
    for dep in deps:
        path = ROOT / dep
        if dep.startswith("lib/"):
            assert path.exists(), f"dvc.yaml names {dep}, which does not exist"
            files |= set(path.rglob("*.py")) if path.is_dir() else {path}
    return files


@pytest.mark.parametrize("name", sorted(DVC))
def test_each_stage_depends_on_exactly_the_library_modules_it_runs(name):
    stage = DVC[name]
    deps = (stage["do"] if "do" in stage else stage).get("deps", [])
    runs, declared = stage_modules(name, stage), covered(deps)
    rel = lambda paths: sorted(str(p.relative_to(ROOT)) for p in paths)
    assert not runs - declared, f"{name}: dvc.yaml deps lack {rel(runs - declared)}"
    assert not declared - runs, f"{name}: dvc.yaml deps name modules the stage never imports: {rel(declared - runs)}"


def test_the_closure_follows_function_level_and_package_imports():
    files = {str(p.relative_to(LIB)) for p in closure("copyscope.stages.params")}
    assert {"copyscope/__init__.py", "copyscope/stages/__init__.py", "copyscope/config.py",
            "copyscope/stages/extractors.py"} <= files  # extractors: imported inside run()
    assert "copyscope/studies/detection.py" not in files


def test_each_study_stage_depends_on_exactly_the_models_its_params_name():
    wanted = {study: set() for study in STUDIES}
    for scale in ("default", "smoke", "gpu"):  # one dvc.yaml for every scale: the union of what they read
        for key, model in config.load(scale).study_models():
            wanted[key.split(".")[0]].add(f"data/models/{model}")
    for study in STUDIES:
        deps = {d for d in DVC[study]["deps"] if d.startswith("data/models/")}
        assert deps == wanted[study], study
        assert DVC[study]["cmd"] == f"python -m copyscope notebook {study}"
        assert {f"notebooks/{study}.ipynb", f"notebooks/sd_{study}.ipynb"} <= set(DVC[study]["deps"])


def test_every_stage_reads_its_params_from_its_own_entry_of_the_stage_params():
    for name, stage in DVC.items():
        body = stage["do"] if "do" in stage else stage
        if name == "params":
            assert "params" not in body and "params.yaml" in body["deps"]
            continue
        if stage_group(name) == "train":  # a train stage reads the entry of each model it trains
            entries = [f"train.{model}" for model in trained_models(body)]
        else:
            entries = [f"{name}.${{key}}" if "do" in stage else name]
        assert body["params"] == [{"data/stage_params.yaml": entries}], name


def trained_models(stage: dict) -> list[str]:
    """The models a train stage's command names; its outputs must be exactly their folders, kept between runs (the
    stage itself keeps what is unchanged)."""
    assert stage["cmd"].startswith("python -m copyscope train ")
    models = stage["cmd"].split()[4:]
    assert stage["outs"] == [{f"data/models/{model}": {"persist": True}} for model in models]
    return models


def test_every_model_trains_in_exactly_one_stage_after_its_dataset_and_the_model_it_fine_tunes():
    stages = {name: trained_models(stage) for name, stage in DVC.items() if stage_group(name) == "train"}
    trained = [model for models in stages.values() for model in models]
    assert sorted(trained) == sorted(config.load("default").models)
    for name, models in stages.items():
        datasets = {d for d in DVC[name]["deps"] if d.startswith("data/datasets/")}
        bases = {d for d in DVC[name]["deps"] if d.startswith("data/models/")}  # what its fine-tunes start from
        for scale in ("default", "smoke", "gpu"):
            specs = [config.load(scale).models[m] for m in models]
            assert {f"data/datasets/{spec.dataset}" for spec in specs} == datasets, name
            assert {f"data/models/{spec.finetune}" for spec in specs if spec.finetune} == bases, name


def test_each_study_writes_into_its_own_uncached_folder_and_lists_its_metrics_at_top_level():
    top = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for study in STUDIES:
        assert DVC[study]["outs"] == [f"data/executed/{study}.ipynb", {f"figures/{study}": {"cache": False}}]
        assert "metrics" not in DVC[study] and "plots" not in DVC[study]
    assert top["metrics"] == [f"figures/{study}/metrics.json" for study in STUDIES]
