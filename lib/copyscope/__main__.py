"""The pipeline's stage commands, one module each under `copyscope.stages` (params.yaml is validated before any
work starts):

  python -m copyscope params              validate params.yaml deeply; write each stage's values
  python -m copyscope prepare DATASET     build a dataset under data/datasets/
  python -m copyscope train MODEL         train a model under data/models/ (resumes from data/checkpoints/)
  python -m copyscope extractors          train the copy detector, rank extractors, calibrate the threshold
  python -m copyscope alignment           train the small CLIP that scores text-image alignment
  python -m copyscope notebook STUDY      execute notebooks/STUDY.ipynb with papermill into data/executed/
  python -m copyscope report              regenerate README.md's results section from figures/*/metrics.json

Bad input (a params key, a data file, missing downloads or stage outputs) prints one line and exits with code 2;
COPYSCOPE_DEBUG=1 shows the traceback instead.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from copyscope import config, paths
from copyscope.errors import UserError

STAGES = ("params", "prepare", "train", "extractors", "alignment", "notebook")
NAMED = {"prepare": "datasets", "train": "models", "notebook": "studies"}


def known_names(command: str, params: config.Params) -> list[str]:
    """The names a command accepts (datasets, models or studies), or [] for commands that take none."""
    kind = NAMED.get(command)
    return [] if kind is None else sorted(config.STUDIES if kind == "studies" else getattr(params, kind))


def run(command: str, name: str | None, scale: str | None) -> None:
    """Validate params, check the name, then run the stage module `copyscope.stages.<command>` (imported only now:
    each stage's process imports what that stage needs, no more)."""
    params = config.load(scale)  # the schema; stages that build things validate deeply before any work
    names = known_names(command, params)
    if names and name not in names:
        raise config.ConfigError(f"{command}: unknown name {name!r}; known: {', '.join(names)}")
    if not names and name is not None:
        raise config.ConfigError(f"{command} takes no name, got {name!r}")
    if command == "train" and params.models[name].seeds == 0:  # not trained at this scale: no torch import
        importlib.import_module("copyscope.stages.model_folder").keep_seeds(name, 0)
        return
    stage = importlib.import_module(f"copyscope.stages.{command}")
    stage.run(*([name] if names else []), params)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m copyscope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=(*STAGES, "report"))
    parser.add_argument("name", nargs="?", help="the dataset, model or study")
    parser.add_argument("--scale", help="override params.yaml's `scale`")
    args = parser.parse_args(argv)
    try:
        if args.command == "report":  # not a stage: the committed metrics into README.md
            importlib.import_module("copyscope.readme").update_readme(paths.repo_root() / "README.md")
        else:
            run(args.command, args.name, args.scale)
    except UserError as err:
        if os.environ.get("COPYSCOPE_DEBUG") == "1":
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
