"""The train stage: train every seed of some models of params.yaml's `models`, under data/models/<name>/seed-<k>."""
from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from copyscope import paths, validation
from copyscope.artifacts.models import RECORD, load_trained
from copyscope.atomic import atomic_directory
from copyscope.config import Params
from copyscope.data.dataset import ImageCaptionSet
from copyscope.data.training_set import TrainingSet
from copyscope.devices import pick_device
from copyscope.errors import MissingOutput
from copyscope.mitigation.factory import training_hooks, training_set_options
from copyscope.models.text_to_image import TextToImage, build_pixel_model
from copyscope.stages.model_folder import keep_seeds
from copyscope.training import train


def training_subset(n_images: int, n_train: int | None, seed: int, families: np.ndarray | None = None,
                    templates: bool = False, left_out=()) -> np.ndarray:
    """Indices of the first n_train images of a seeded permutation: subsets of growing size are nested. Template
    family members are left out, or (`templates`) all taken first and the rest filled with singles; so are the
    images `left_out` (a fine-tuned model's base's)."""
    family = np.full(n_images, -1) if families is None else np.asarray(families)
    members = np.flatnonzero(family >= 0) if templates else np.zeros(0, dtype=int)
    singles = np.random.default_rng([seed, 7]).permutation(np.flatnonzero(family < 0))
    singles = singles[~np.isin(singles, left_out)]
    wanted = n_train or len(members) + len(singles)
    if wanted > len(members) + len(singles) or wanted < len(members):
        raise ValueError(f"n_train {n_train} does not fit the dataset: {len(singles)} single images and "
                         f"{len(members)} template-family members")
    return np.r_[members, singles[: wanted - len(members)]].astype(int)


def training_set(name: str, params: Params) -> TrainingSet:
    """The images, captions and duplication that model `name` trains on (MC training adds multiple captions)."""
    spec = params.models[name]
    data = ImageCaptionSet.load(paths.dataset_dir(spec.dataset))
    indices = training_indices(name, params, data)
    multiple = spec.multiple_captions or training_set_options(spec.mitigation.name).get("multiple_captions", False)
    return TrainingSet(data.subset(indices), spec.captions, spec.duplication, multiple, seed=params.seed)


def training_indices(name: str, params: Params, data: ImageCaptionSet) -> np.ndarray:
    """Which images of its dataset model `name` trains on (a fine-tuned model: none of its base's)."""
    spec = params.models[name]
    left_out = training_indices(spec.finetune, params, data) if spec.finetune else ()
    return training_subset(len(data), spec.n_train, params.seed, data.families, spec.duplication.template_factor > 1,
                           left_out)


def run(names: list[str], params: Params) -> None:
    """Train every seed of the named models (each with its training-time mitigation, if any), each seed resuming from
    data/checkpoints/<name>-seed-<k>.pt, and save seed k under data/models/<name>/seed-<k>. A seed already saved with
    the same fingerprint (params, training images, library code) is kept, so a DVC stage that trains several models
    (its outputs persist between runs) retrains only those whose values changed; a model with `seeds: 0` (not
    trained at this scale) is an empty folder."""
    validation.check(params)
    _require_bases(names, params)
    sets = {name: training_set(name, params) for name in names if params.models[name].seeds}
    train_jobs(params, sets, [(name, k) for name in sets for k in range(params.models[name].seeds)])
    for name in names:
        keep_seeds(name, params.models[name].seeds)


def _require_bases(names: list[str], params: Params) -> None:
    """Before any training: every trained seed that a fine-tuned model starts from exists."""
    for name in names:
        spec = params.models[name]
        if spec.seeds and spec.finetune:
            for k in range(params.models[spec.finetune].seeds):
                if not (paths.model_dir(spec.finetune, k) / RECORD).is_file():
                    raise MissingOutput(f"model {name!r} fine-tunes {spec.finetune!r}, whose seed {k} is not trained "
                                        f"yet: train it first (`python -m copyscope train {spec.finetune}`)")


# A worker process spends about 10 s importing torch and diffusers (measured on 2 cores), some 20 steps of a
# default-scale model: shorter trainings run one after another in this process.
MIN_STEPS_PER_WORKER = 50


def parallel_workers(n_jobs: int, device: torch.device) -> int:
    """How many trainings run at once: on the CPU one per core, one thread each; elsewhere one. Small models use one
    core better than two (measured on 2 cores, cond-instance at the default scale: two one-thread trainings side by
    side make 4.05 steps/s, one two-thread training 2.42); a third worker adds nothing (4.04 steps/s) and slows a
    long training to two thirds of a core, so the detection model (3000 steps) would finish last."""
    if device.type != "cpu":
        return 1
    return max(1, min(n_jobs, torch.get_num_threads()))


def train_jobs(params: Params, sets: dict[str, TrainingSet], jobs: list[tuple[str, int]]) -> None:
    """Train the (model, seed) jobs: short ones (under MIN_STEPS_PER_WORKER steps) one after another in this process,
    the rest in `parallel_workers` worker processes that split the cores, longest first so that none idles at the
    end while another still trains."""
    device = pick_device()
    steps = {name: training_steps(params.models[name], data) for name, data in sets.items()}
    short = [job for job in jobs if steps[job[0]] < MIN_STEPS_PER_WORKER]
    long = sorted((job for job in jobs if job not in short), key=lambda job: -steps[job[0]])
    workers = parallel_workers(len(long), device)
    for name, k in short + (long if workers == 1 else []):
        _train_seed(name, params, sets[name], k, device)
    if workers == 1:
        return
    # Fork after torch has started threads can hang: workers fork from a fresh server process that has imported
    # this module (torch, diffusers) once and run nothing, so each worker skips their import.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    threads = max(1, torch.get_num_threads() // workers)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(threads, str(paths.repo_root()))) as pool:
        for future in [pool.submit(_train_seed, name, params, sets[name], k, device) for name, k in long]:
            future.result()


def _start_worker(threads: int, root: str) -> None:
    """A worker's threads, and this process's repository (the fork server may have started in another)."""
    torch.set_num_threads(threads)
    os.environ["COPYSCOPE_ROOT"] = root


def training_steps(spec, data: TrainingSet) -> int:
    """The optimizer steps of one seed of a model trained on `data`."""
    return spec.training.steps_for(len(data.data))


def _train_seed(name: str, params: Params, data: TrainingSet, k: int, device) -> None:
    spec, seed = params.models[name], params.seed + k
    config = spec.training.model_copy(update={"steps": training_steps(spec, data)})
    base = base_seed(params, name, k)
    fingerprint = _fingerprint(spec.model_dump(), config.model_dump(), params.architecture.model_dump(), seed,
                               device.type, data.data.images, library_digest(), base)
    folder = paths.model_dir(name, k)
    if (folder / RECORD).is_file() and json.loads((folder / RECORD).read_text()).get("fingerprint") == fingerprint:
        return
    model = starting_model(params, name, k, base, device)
    hooks = training_hooks(spec.mitigation.name, **spec.mitigation.params)
    checkpoint = paths.repo_root() / "data" / "checkpoints" / f"{name}-seed-{k}.pt"
    result = train(model, data, config, checkpoint, seed, fingerprint, hooks)
    with atomic_directory(folder) as tmp:
        model.save(tmp / "model")
        record = {
            "name": name, "seed": seed, "dataset": spec.dataset, "caption_kind": data.caption_kind,
            "ids": data.data.ids, "prompts": [data.prompt(i) for i in range(len(data))],
            "duplicated": data.duplicated.tolist(), "duplication_kind": data.duplication_kind(),
            "family": ([-1] * len(data) if data.data.families is None else data.data.families.tolist()),
            "mitigation": spec.mitigation.model_dump(), "finetuned_from": base, "steps": result.steps,
            "draws_per_image": result.steps * config.batch_size / len(data.data),
            "final_loss": float(np.mean([r["loss"] for r in result.log[-100:]])), "device": device.type,
            "fingerprint": fingerprint,
        }
        (tmp / RECORD).write_text(json.dumps(record, indent=1) + "\n")
        (tmp / "timing.json").write_text(json.dumps({"seconds": round(result.seconds, 1)}) + "\n")
        with open(tmp / "loss.csv", "w") as handle:
            handle.write("step,loss,kept\n")
            handle.writelines(f"{r['step']},{r['loss']:.6f},{r['kept']:.4f}\n" for r in result.log)
    checkpoint.unlink(missing_ok=True)


def base_seed(params: Params, name: str, k: int) -> dict | None:
    """{model, seed, fingerprint} of the trained seed that seed k of a fine-tune starts from (seed k mod n of its
    base's n seeds), read from its record alone; None for a model trained from scratch."""
    spec = params.models[name]
    if spec.finetune is None:
        return None
    seed = k % params.models[spec.finetune].seeds
    record = json.loads((paths.model_dir(spec.finetune, seed) / RECORD).read_text())
    return {"model": spec.finetune, "seed": seed, "fingerprint": record["fingerprint"]}


def starting_model(params: Params, name: str, k: int, base: dict | None, device: torch.device) -> TextToImage:
    """What seed k of model `name` trains from: its untrained model, or the trained weights of `base`, its
    `base_seed`."""
    if base is None:
        return untrained_model(params, name, k).to(device)
    return load_trained(base["model"], device, base["seed"]).model


def untrained_model(params: Params, name: str, k: int = 0):
    """Seed k of model `name` at step 0: what training starts from (the detection study's control)."""
    resolution = params.datasets[params.models[name].dataset].resolution
    return build_pixel_model(resolution, seed=params.seed + k, **params.architecture.model_dump())


@functools.cache
def library_digest() -> str:
    """A digest of every module of this library: a change to the code retrains, as DVC would rerun the stage."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for module in sorted(package.rglob("*.py")):
        digest.update(str(module.relative_to(package)).encode() + b"\0" + module.read_bytes())
    return digest.hexdigest()


def _fingerprint(*parts) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.tobytes() if isinstance(part, np.ndarray) else repr(part).encode())
    return digest.hexdigest()
