"""The pipeline's stage commands: `python -m copyscope {prepare,train,notebook} NAME [--scale S]`.

prepare a dataset, train a model, or execute a study notebook with papermill (params.yaml is validated first).
"""
from __future__ import annotations

import argparse
import sys

from copyscope import config, stages
from copyscope.notebook import run_study_notebook

STUDIES = ("replication",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m copyscope", description=__doc__)
    parser.add_argument("command", choices=("prepare", "train", "notebook"))
    parser.add_argument("name", help="a dataset or model name in params.yaml, or a study notebook")
    parser.add_argument("--scale", help="override params.yaml's `scale`")
    args = parser.parse_args(argv)
    try:
        params = config.load(args.scale)
        known = {"prepare": params.datasets, "train": params.models, "notebook": STUDIES}[args.command]
        if args.name not in known:
            raise config.ConfigError(f"{args.command}: unknown name {args.name!r}; known: {sorted(known)}")
    except config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "prepare":
        stages.prepare_dataset(args.name, params)
    elif args.command == "train":
        stages.train_model(args.name, params)
    else:
        run_study_notebook(args.name, params)
    return 0


if __name__ == "__main__":
    sys.exit(main())
