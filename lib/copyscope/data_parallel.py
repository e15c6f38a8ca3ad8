"""Data-parallel generation and embedding on one node with `accelerate launch`: every rank takes its slice, the
outputs are merged in a fixed order, and the result equals the single-process one.

    accelerate launch --multi_gpu --num_processes 8 -m copyscope.data_parallel generate \\
        --model data/downloads/sd-v1-4 --prompts prompts.txt --seed 0 --steps 50 --guidance 7.5 \\
        --batch-size 16 --out data/generations/sd-v1-4
    accelerate launch --multi_gpu --num_processes 8 -m copyscope.data_parallel embed \\
        data/laion/shards data/laion/sscd --extractor sscd_disc_mixup
    accelerate launch --multi_gpu --num_processes 2 -m copyscope.data_parallel --cpu generate ...   # CPU ranks

Generation splits the prompts into parts of `--part-size` prompts (a multiple of the batch size), dealt to the ranks
in turn. A part's images are exactly those of the single-process `copyscope.sampling.generate` run: the same
batches (part boundaries fall on batch boundaries) and the same starting noise (each rank draws the whole run's
x_T from the seed on the CPU and takes its part's rows). Each part is saved atomically as it finishes, so a killed
run resumes (with any number of ranks); rank 0 then concatenates the parts in prompt order into `generations.npy`.
Embedding deals the input shards to the ranks in turn and writes an embedding set (`copyscope.sharded_embedding`).

`accelerate launch --cpu --num_processes N` starts one process unless MPI is set up (accelerate's multi-CPU mode
needs `--mpirun_hostfile`); `--multi_gpu` (torchrun) with this module's `--cpu` runs N CPU ranks over gloo.
`torchrun --nproc_per_node N -m copyscope.data_parallel ...` works the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from tqdm.auto import tqdm

from copyscope.atomic import save_npy, write_json
from copyscope.embedding_set import CONFIG, EmbeddingSet, check_config, is_done, write_manifest
from copyscope.errors import UserError
from copyscope.sampling import generate, initial_noise
from copyscope.sharded_embedding import EmbeddingJob, embed_shard, parse_options
from copyscope.shards import list_shards

GENERATION_CONFIG = "generation.json"
GENERATIONS = "generations.npy"
PARTS = "parts"


def part_bounds(n: int, part_size: int) -> list[tuple[int, int]]:
    """[start, end) of each part of n generations."""
    if part_size < 1:
        raise ValueError(f"part_size must be positive, got {part_size}")
    return [(start, min(n, start + part_size)) for start in range(0, n, part_size)]


def rank_items(n_items: int, rank: int, world: int) -> list[int]:
    """The items (parts, shards) rank `rank` of `world` takes: every world-th one, starting at its rank."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not in a world of {world}")
    return list(range(rank, n_items, world))


def read_prompts(path: str | Path) -> list[str]:
    """Prompts from a .txt file (one per line) or a .json list of strings."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"prompts file {path} does not exist")
    if path.suffix == ".json":
        prompts = json.loads(path.read_text())
        if not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts):
            raise UserError(f"{path} must hold a JSON list of strings")
    else:
        prompts = path.read_text().splitlines()
    if not prompts:
        raise UserError(f"prompts file {path} holds no prompts")
    return prompts


def load_model(source: str | Path, device: torch.device):
    """A saved copyscope model folder, else a Stable Diffusion checkpoint (`load_stable_diffusion`)."""
    from copyscope.models.stable_diffusion import load_stable_diffusion
    from copyscope.models.text_to_image import MANIFEST, TextToImage

    if (Path(source) / MANIFEST).is_file():
        return TextToImage.load(source, device=device)
    return load_stable_diffusion(source, device=device)


def part_file(out: Path, start: int, end: int) -> Path:
    return out / PARTS / f"{start:09d}-{end:09d}.npy"


def generate_part(model, prompts: list[str], noise: torch.Tensor, start: int, end: int, seed: int, steps: int,
                  guidance: float, batch_size: int) -> np.ndarray:
    """Generations start:end of the run, batch for batch what the single-process run computes for them."""
    x_t = noise[start:end]
    used = 0

    def run_noise(_model, batch, cond, uncond, x):
        """Replace each batch's x_T by the run's rows for it (generate calls this once per batch, in order)."""
        nonlocal used
        x = x_t[used:used + len(batch)].to(x.device, x.dtype)
        used += len(batch)
        return cond, uncond, x

    return generate(model, prompts[start:end], seed, steps, guidance, batch_size, progress=False,
                    prepare=run_noise)


def generate_data_parallel(state, model_source: str | Path, prompts: list[str], out: str | Path, seed: int,
                           steps: int = 50, guidance: float = 7.5, batch_size: int = 16,
                           part_size: int | None = None) -> Path:
    """This rank's parts of the run, then (rank 0) the merge: the path of `generations.npy` on every rank."""
    out = Path(out)
    part_size = part_size or 8 * batch_size
    if part_size % batch_size:
        raise ValueError(f"part_size ({part_size}) must be a multiple of batch_size ({batch_size})")
    config = {"model": str(model_source), "seed": seed, "steps": steps, "guidance": guidance,
              "batch_size": batch_size, "part_size": part_size, "n": len(prompts), "prompts": prompts}
    _prepare_folder(state, out, config, GENERATION_CONFIG)
    if (out / GENERATIONS).is_file():
        return out / GENERATIONS
    parts = part_bounds(len(prompts), part_size)
    mine = [parts[i] for i in rank_items(len(parts), state.process_index, state.num_processes)]
    todo = [(a, b) for a, b in mine if not part_file(out, a, b).is_file()]
    if todo:
        model = load_model(model_source, state.device)
        # the run's whole x_T, drawn on the CPU exactly as `initial_noise` draws it for one process
        noise = initial_noise(SimpleNamespace(latent_shape=model.latent_shape, device=torch.device("cpu")),
                              len(prompts), seed)
        for a, b in tqdm(todo, desc=f"rank {state.process_index} generate", disable=not state.is_local_main_process):
            save_npy(part_file(out, a, b), generate_part(model, prompts, noise, a, b, seed, steps, guidance,
                                                         batch_size))
    print(f"rank {state.process_index}/{state.num_processes}: generated parts {todo} of {mine}", flush=True)
    state.wait_for_everyone()
    if state.is_main_process:
        merge_parts(out, parts)
        write_json(out / "merge.json", {"world_size": state.num_processes, "parts": len(parts)})
    state.wait_for_everyone()
    return out / GENERATIONS


def merge_parts(out: Path, parts: list[tuple[int, int]]) -> None:
    """Concatenate the parts in prompt order into `generations.npy` (written through a memory map, then moved into
    place), and remove them."""
    first = np.load(part_file(out, *parts[0]), mmap_mode="r")
    n = parts[-1][1]
    partial = out / f".{GENERATIONS}.partial"
    merged = np.lib.format.open_memmap(partial, mode="w+", dtype=first.dtype, shape=(n, *first.shape[1:]))
    for a, b in parts:
        merged[a:b] = np.load(part_file(out, a, b))
    merged.flush()
    del merged
    os.replace(partial, out / GENERATIONS)
    for a, b in parts:
        part_file(out, a, b).unlink()
    (out / PARTS).rmdir()


def embed_data_parallel(state, source: str | Path, out: str | Path, job: EmbeddingJob) -> EmbeddingSet:
    """This rank's shards (every world-th, skipping finished ones), then (rank 0) the manifest; on every rank the
    finished set. Each rank's extractor runs on its own device."""
    out = Path(out)
    shards = list_shards(source)
    _prepare_folder(state, out, job.config(), CONFIG)
    mine = [shards[i] for i in rank_items(len(shards), state.process_index, state.num_processes)]
    todo = [s for s in mine if not is_done(out, s.name)]
    if todo:
        if state.device.type == "cuda":
            os.environ.setdefault("COPYSCOPE_DEVICE", str(state.device))
        extractor = job.build()
        for shard in tqdm(todo, desc=f"rank {state.process_index} embed", disable=not state.is_local_main_process):
            embed_shard(shard, out, job, extractor)
    print(f"rank {state.process_index}/{state.num_processes}: embedded {len(todo)} of {len(mine)} shards", flush=True)
    state.wait_for_everyone()
    if state.is_main_process:
        write_manifest(out, [s.name for s in shards])
    state.wait_for_everyone()
    return EmbeddingSet(out)


def _prepare_folder(state, out: Path, config: dict, name: str) -> None:
    """Rank 0 creates `out` and records (or checks) the run's config; the others check it once it is there."""
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        check_config(out, config, name)
    state.wait_for_everyone()
    if not state.is_main_process:
        check_config(out, config, name)


def process_state(cpu: bool, timeout_hours: float = 24):
    """accelerate's view of this process (rank, world, device); barriers wait up to `timeout_hours` (ranks that
    finish early wait for the slowest)."""
    from accelerate import PartialState

    return PartialState(cpu=cpu, timeout=timedelta(hours=timeout_hours))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="accelerate launch ... -m copyscope.data_parallel", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="store_true", help="CPU ranks (gloo) even where CUDA is present")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="one image per prompt line")
    gen.add_argument("--model", required=True, help="a saved copyscope model folder or a Stable Diffusion one")
    gen.add_argument("--prompts", required=True, help=".txt (one per line) or .json list")
    gen.add_argument("--out", required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--steps", type=int, default=50)
    gen.add_argument("--guidance", type=float, default=7.5)
    gen.add_argument("--batch-size", type=int, default=16)
    gen.add_argument("--part-size", type=int, help="prompts per saved part (default 8 batches)")
    emb = commands.add_parser("embed", help="embed image shards into an embedding set")
    emb.add_argument("source")
    emb.add_argument("out")
    emb.add_argument("--extractor", default="pixel")
    emb.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    emb.add_argument("--dtype", default="float16", choices=("float16", "float32"))
    emb.add_argument("--batch-size", type=int, default=256)
    emb.add_argument("--resolution", type=int)
    args = parser.parse_args(argv)
    try:
        state = process_state(args.cpu or not torch.cuda.is_available())
        if args.command == "generate":
            path = generate_data_parallel(state, args.model, read_prompts(args.prompts), args.out, args.seed,
                                          args.steps, args.guidance, args.batch_size, args.part_size)
            done = f"{len(np.load(path, mmap_mode='r'))} generations in {path}"
        else:
            job = EmbeddingJob(args.extractor, parse_options(args.option), args.dtype, args.batch_size,
                               args.resolution)
            embeddings = embed_data_parallel(state, args.source, args.out, job)
            done = f"{len(embeddings)} embeddings in {args.out}"
    except (UserError, ValueError) as err:
        if os.environ.get("COPYSCOPE_DEBUG") == "1":
            raise
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    if state.is_main_process:
        print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
