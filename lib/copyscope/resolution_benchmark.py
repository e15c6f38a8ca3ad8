"""Which resolution lets a copy be judged, and what it costs.

    python -m copyscope.resolution_benchmark [--scale default] [--resolutions 16 24 32] [--json FILE]

At each resolution, in one run on one machine: the copy benchmark with the extractor stage's settings, built on the
extractor stage's held-out scenes and on the emoji the emoji model never sees, with every offline extractor that
needs no training of its own (raw pixels, ImageNet-pretrained EfficientNet-Lite0) ranked by mAP and R@1 and given
its threshold at the calibrated precision; and the emoji model's cost there: seconds per training step (plain
eager loop, its batch size) and per generated image (the study's sampler).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from copyscope import config
from copyscope.atomic import write_json
from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.training_set import TrainingSet
from copyscope.models.text_to_image import build_pixel_model
from copyscope.sampling import generate
from copyscope.stages import prepare
from copyscope.studies.emoji import heldout, rank_offline
from copyscope.train_benchmark import plain_loop, timed

COLUMNS = ("name", "mAP", "R@1", "threshold")


def copy_benchmarks(params: config.Params, resolution: int) -> dict:
    """The benchmarks' (images, masks) at `resolution`: held-out scenes after the copy detector's share, and the
    emoji outside the emoji model's training pool."""
    if params.datasets[params.extractors.dataset].kind != "procedural":
        raise config.ConfigError(f"extractors.dataset {params.extractors.dataset!r} is not procedural")
    scenes = dataset_at(params, params.extractors.dataset, resolution)
    others = heldout(dataset_at(params, params.models[params.replication.emoji_model].dataset, resolution))
    n_train = params.extractors.n_train
    return {"procedural (held out)": (scenes.images[n_train:], scenes.masks[n_train:]),
            "emoji (held out)": (others.images, others.masks)}


def dataset_at(params: config.Params, name: str, resolution: int) -> ImageCaptionSet:
    """Dataset `name` of params.yaml built at another resolution, in memory."""
    return prepare.build(params.datasets[name].model_copy(update={"resolution": resolution}))


def emoji_model_cost(params: config.Params, resolution: int, steps: int = 5, warmup: int = 2) -> dict:
    """Seconds per training step of the emoji model at `resolution` (its batch; `steps` timed after `warmup` on the
    same model, so a step's time is never a difference of two noisy totals) and per generated image."""
    spec = params.models[params.replication.emoji_model]
    data = TrainingSet(dataset_at(params, spec.dataset, resolution), spec.captions, seed=params.seed)

    def model():
        return build_pixel_model(resolution, seed=params.seed, **params.architecture.model_dump())

    training = spec.training  # the shared defaults with the model's own overrides merged in
    warm = model()
    plain_loop(warm, data, training.batch_size, warmup, training.lr)  # first-call costs land here, untimed
    step = timed(lambda: plain_loop(warm, data, training.batch_size, steps, training.lr)) / steps
    prompts = [data.data.captions[i][0] for i in range(min(training.batch_size, len(data.data)))]
    sampler, start = model(), time.perf_counter()
    with torch.no_grad():
        generate(sampler, prompts, seed=params.seed, steps=params.sampling.steps, guidance=params.sampling.guidance,
                 batch_size=params.sampling.batch_size, progress=False)
    return {"train_step_seconds": step, "batch_size": training.batch_size,
            "generation_seconds_per_image": (time.perf_counter() - start) / len(prompts)}


def measure(params: config.Params, resolutions: list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per resolution, benchmark and extractor: mAP, R@1 and threshold; per resolution: the emoji model's cost."""
    rows, costs = [], []
    for resolution in resolutions:
        for benchmark, (images, masks) in copy_benchmarks(params, resolution).items():
            table, _ = rank_offline(images, masks, resolution, params)
            rows += [{"resolution": resolution, "benchmark": benchmark, **{k: r[k] for k in COLUMNS}}
                     for r in table.to_dict("records")]
        costs.append({"resolution": resolution, **emoji_model_cost(params, resolution)})
    return pd.DataFrame(rows), pd.DataFrame(costs)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m copyscope.resolution_benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="default")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[16, 24, 32])
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    params = config.load(args.scale)
    ranking, costs = measure(params, args.resolutions)
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(ranking.to_string(index=False))
        print(costs.to_string(index=False))
    result = {"scale": args.scale, "ranking": ranking.to_dict("records"), "cost": costs.to_dict("records")}
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
