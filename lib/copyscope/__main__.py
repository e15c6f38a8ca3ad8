"""The pipeline's stage commands (params.yaml is validated before any work starts):

  python -m copyscope prepare DATASET     build a dataset under data/datasets/
  python -m copyscope train MODEL         train a model under data/models/ (resumes from data/checkpoints/)
  python -m copyscope extractors          train the copy detector, rank extractors, calibrate the threshold
  python -m copyscope alignment           train the small CLIP that scores text-image alignment
  python -m copyscope notebook STUDY      execute notebooks/STUDY.ipynb with papermill into data/executed/
"""
from __future__ import annotations

import argparse
import sys

from copyscope import config

STUDIES = ("replication", "conditioning", "mitigation", "detection")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m copyscope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("prepare", "train", "extractors", "alignment", "notebook"))
    parser.add_argument("name", nargs="?", help="the dataset, model or study")
    parser.add_argument("--scale", help="override params.yaml's `scale`")
    args = parser.parse_args(argv)
    try:
        params = config.load(args.scale, deep=False)  # each command builds what it uses before any work
        known = {"prepare": params.datasets, "train": params.models, "notebook": STUDIES}.get(args.command)
        if known is not None and args.name not in known:
            raise config.ConfigError(f"{args.command}: unknown name {args.name!r}; known: {sorted(known)}")
    except config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "prepare":
        from copyscope.data.prepare import prepare_dataset
        prepare_dataset(args.name, params)
    elif args.command == "train":
        from copyscope.stages import train_model
        train_model(args.name, params)
    elif args.command == "extractors":
        from copyscope import calibration
        calibration.run(params)
    elif args.command == "alignment":
        from copyscope.alignment import stage
        stage.run(params)
    else:
        from copyscope.notebook import run_study_notebook
        run_study_notebook(args.name, params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
