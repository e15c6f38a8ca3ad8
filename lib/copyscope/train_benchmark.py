"""copyscope's training against a plain eager diffusers loop, on the same UNet, text encoder, data and batch.

    python -m copyscope.train_benchmark                       # default scale, cond-instance, its batch, 3 seeds
    python -m copyscope.train_benchmark --steps 20 --seeds 2 --json bench.json

Two comparisons, in this one run on this machine (never beside another torch job: two processes on few cores
slow each other):

- **a model's seeds** (what a train stage does): `--seeds` seeds trained for `--steps` steps each, from model build
  to trained weights. The plain way trains them one after another with every core; copyscope's train stage
  (`copyscope.stages.train.train_jobs`) trains them side by side in worker processes, one per core, and saves
  each. The ratio printed is copyscope's throughput (seeds x steps per second) over the plain loop's.
- **one training step**, in this process with every core, `--repeats` times interleaved (medians): the plain loop
  against `copyscope.training.train` (fused AdamW, each distinct caption encoded once, plus what the plain loop
  lacks: seeded per-step randomness, caption dropout, gradient clipping, the LR schedule, checkpoints).

The plain loop is what a diffusers training script does: tokenize, encode, `DDPMScheduler.add_noise`, UNet forward,
MSE, backward, AdamW. Everything runs in a scratch folder (the dataset is prepared there).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from copyscope import config
from copyscope.atomic import write_json
from copyscope.stages import prepare
from copyscope.stages.train import MIN_STEPS_PER_WORKER, parallel_workers, train_jobs, training_set, untrained_model
from copyscope.training import train


def plain_loop(model, data, batch_size: int, steps: int, lr: float) -> None:
    """The eager diffusers loop: no hooks, no schedule, no clipping, no checkpoints."""
    params = [*model.unet.parameters(), *model.text_encoder.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr)
    noise_schedule = model.training_scheduler()
    latents = model.to_latents(data.data.images)
    rng = np.random.default_rng(0)
    model.unet.train()
    model.text_encoder.train()
    for _ in range(steps):
        indices, captions = data.draw(rng, batch_size)
        x0 = latents[torch.as_tensor(indices)]
        noise = torch.randn_like(x0)
        t = torch.randint(0, noise_schedule.config.num_train_timesteps, (len(x0),))
        embeddings = model.text_encoder(model.tokenize(captions))[0]
        pred = model.unet(noise_schedule.add_noise(x0, noise, t), t, encoder_hidden_states=embeddings).sample
        loss = F.mse_loss(pred, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def with_steps(params: config.Params, name: str, steps: int, seeds: int) -> config.Params:
    """`params` with model `name` trained for exactly `steps` steps, `seeds` times."""
    spec = params.models[name]
    training = spec.training.model_copy(update={"steps": steps, "draws_per_image": None, "checkpoint_every": steps,
                                                "warmup_steps": min(spec.training.warmup_steps, steps)})
    spec = spec.model_copy(update={"training": training, "seeds": seeds})
    return params.model_copy(update={"models": {**params.models, name: spec}})


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def seconds_per_step(loop, warmup: int, steps: int) -> float:
    """(time of warmup + steps) − (time of warmup), per step: what one more step costs, start-up excluded."""
    return (timed(lambda: loop(warmup + steps)) - timed(lambda: loop(warmup))) / steps


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m copyscope.train_benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="default")
    parser.add_argument("--model", default="cond-instance")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the model trained in the seeds comparison")
    parser.add_argument("--steps", type=int, default=120, help="training steps per seed (the train stage uses "
                        f"workers from {MIN_STEPS_PER_WORKER} steps on)")
    parser.add_argument("--step-steps", type=int, default=15, help="timed steps in the one-step comparison")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the one-step comparison")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    params = config.load(args.scale)
    if args.model not in params.models:
        parser.error(f"unknown model {args.model!r}; params.yaml has {', '.join(params.models)}")
    params = with_steps(params, args.model, args.steps, args.seeds)
    training = params.models[args.model].training
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["COPYSCOPE_ROOT"] = scratch  # datasets, models and checkpoints land here (workers inherit it)
        prepare.run(params.models[args.model].dataset, params)
        data = training_set(args.model, params)

        def plain(steps: int, seed: int = 0) -> None:
            plain_loop(untrained_model(params, args.model, seed), data, training.batch_size, steps, training.lr)

        def ours(steps: int) -> None:
            run = training.model_copy(update={"steps": steps, "checkpoint_every": steps})
            checkpoint = Path(scratch) / "step.pt"
            train(untrained_model(params, args.model), data, run, checkpoint)
            checkpoint.unlink()  # the next call starts from scratch too

        step_times = {"plain": [], "copyscope": []}
        for _ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits both
            step_times["plain"].append(seconds_per_step(plain, args.warmup, args.step_steps))
            step_times["copyscope"].append(seconds_per_step(ours, args.warmup, args.step_steps))
        seeds_plain = timed(lambda: [plain(args.steps, k) for k in range(args.seeds)])
        seeds_ours = timed(lambda: train_jobs(params, {args.model: data}, [(args.model, k) for k in range(args.seeds)]))
    workers = parallel_workers(args.seeds, torch.device("cpu")) if args.steps >= MIN_STEPS_PER_WORKER else 1
    step_plain, step_ours = (float(np.median(step_times[name])) for name in ("plain", "copyscope"))
    result = {
        "scale": args.scale, "model": args.model, "batch_size": training.batch_size, "cores": torch.get_num_threads(),
        "seeds": args.seeds, "steps": args.steps, "workers": workers,
        "seeds_plain_seconds": seeds_plain, "seeds_copyscope_seconds": seeds_ours,
        "throughput_ratio": seeds_plain / seeds_ours,
        "step_plain_seconds": step_plain, "step_copyscope_seconds": step_ours, "step_ratio": step_plain / step_ours,
        "step_repeats": step_times,
    }
    print(f"{args.model} at batch {training.batch_size} on {result['cores']} cores")
    print(f"  {args.seeds} seeds x {args.steps} steps: plain loop one after another {seeds_plain:.1f} s, copyscope's "
          f"train stage ({result['workers']} side by side) {seeds_ours:.1f} s: throughput {seeds_plain / seeds_ours:.2f}x")
    print(f"  one step, every core: plain {step_plain:.3f} s, copyscope {step_ours:.3f} s "
          f"(median of {args.repeats}): {step_plain / step_ours:.2f}x")
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
