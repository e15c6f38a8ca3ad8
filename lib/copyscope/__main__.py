"""The pipeline's stage commands, one module each under `copyscope.stages` (params.yaml is validated before any
work starts):

  python -m copyscope params              validate params.yaml deeply; write each stage's values
  python -m copyscope prepare DATASET     build a dataset under data/datasets/
  python -m copyscope train MODEL...      train models under data/models/ (resumes from data/checkpoints/)
  python -m copyscope extractors          train the copy detector, rank extractors, calibrate the threshold
  python -m copyscope alignment           train the small CLIP that scores text-image alignment
  python -m copyscope notebook STUDY      execute notebooks/STUDY.ipynb with papermill into data/executed/
  python -m copyscope report              regenerate README.md's results section from figures/*/metrics.json
  python -m copyscope downloads           list the files the scale needs downloaded by hand, present or not
                                          (exit code 2 when a required one is missing)

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


def run(command: str, names: list[str], scale: str | None) -> None:
    """Validate params, check the names (train takes one or more, prepare and notebook one, the rest none), then run
    the stage module `copyscope.stages.<command>` (imported only now: each stage's process imports what that stage
    needs, no more)."""
    params = config.load(scale)  # the schema; stages that build things validate deeply before any work
    known = known_names(command, params)
    counted = bool(names) if command == "train" else len(names) == (1 if known else 0)
    if not counted:
        wanted = "one or more names" if command == "train" else "one name" if known else "no name"
        raise config.ConfigError(f"{command} takes {wanted}, got {len(names)}")
    if unknown := [name for name in names if name not in known]:
        raise config.ConfigError(f"{command}: unknown name {unknown[0]!r}; known: {', '.join(known)}")
    if command == "train" and not any(params.models[name].seeds for name in names):  # none trained: no torch import
        for name in names:
            importlib.import_module("copyscope.stages.model_folder").keep_seeds(name, 0)
        return
    stage = importlib.import_module(f"copyscope.stages.{command}")
    if command == "train":
        stage.run(names, params)
    else:
        stage.run(*names, params)


def list_downloads(scale: str | None) -> int:
    """Print what the scale needs downloaded; 2 when a required download is missing."""
    downloads = importlib.import_module("copyscope.scale_downloads")
    params = config.load(scale)
    found = downloads.check(params)
    print(downloads.listing(found, params.scale))
    return 2 if downloads.missing_required(found) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m copyscope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=(*STAGES, "report", "downloads"))
    parser.add_argument("names", nargs="*", help="the dataset, the models or the study")
    parser.add_argument("--scale", help="override params.yaml's `scale`")
    args = parser.parse_args(argv)
    if args.command in ("report", "downloads") and args.names:
        parser.error(f"{args.command} takes no name")
    try:
        if args.command == "report":  # not a stage: the committed metrics into README.md
            importlib.import_module("copyscope.readme").update_readme(paths.repo_root() / "README.md")
        elif args.command == "downloads":  # not a stage: what the scale needs, found or not
            return list_downloads(args.scale)
        else:
            run(args.command, args.names, args.scale)
    except UserError as err:
        if os.environ.get("COPYSCOPE_DEBUG") == "1":
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
