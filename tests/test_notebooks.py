"""Source notebooks are clean inputs: no outputs, a papermill parameters cell, the project's kernel; they read like a
paper section (setup in one call, a rendered conclusion at the end) and their code compiles."""
import json
import re

import pytest

from copyscope.paths import repo_root

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("*.ipynb"))


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell) -> str:
    return "".join(cell["source"])


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_with_a_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is code[0]
    assert source(tagged[0]).startswith("scale = None  #")
    assert nb["metadata"]["kernelspec"]["name"] == "copyscope"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_code_cell_compiles(path):
    for i, cell in enumerate(c for c in cells(path) if c["cell_type"] == "code"):
        code = "\n".join(line for line in source(cell).splitlines() if not line.lstrip().startswith(("%", "!")))
        compile(code, f"{path.name} code cell {i}", "exec")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_is_one_call_and_the_conclusion_is_rendered_from_the_metrics(path):
    study = path.stem
    code = [source(c) for c in cells(path) if c["cell_type"] == "code"]
    setup = [line for line in code[1].splitlines() if line and not line.startswith(("from ", "import "))]
    assert setup == [f'study = open_study("{study}", scale)', "print(study.summary())"]
    *_, heading, last = cells(path)
    assert heading["cell_type"] == "markdown" and source(heading).startswith("## Conclusion")
    assert last["cell_type"] == "code" and source(last) == f"display(Markdown({study}.conclusion(metrics)))"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_loops_in_cells_and_no_private_paths_or_typed_counts_in_prose(path):
    for cell in cells(path):
        text = source(cell)
        assert "../shared" not in text
        if cell["cell_type"] == "code":
            assert not re.search(r"^\s*(for|while) |\bfor \w+ in\b", text, re.M), text  # loops live in lib
        else:  # counts come from params or data, not from the prose
            assert not re.search(r"\b\d+ (images|generations|prompts|models)\b", text), text


def test_the_library_points_nowhere_outside_the_package():
    for path in (repo_root() / "lib" / "copyscope").rglob("*.py"):
        assert "../shared" not in path.read_text(), path
