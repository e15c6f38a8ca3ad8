"""What the Stable Diffusion studies load (the pipeline, the prompt benchmark, the copy descriptor, the CLIP scorer,
the training images' search database) and the generate → embed → search loop that keeps only scores and a few
images, so thousands of 512-px generations never sit in memory together.

Labels come from the prompt files (Webster's MV/TV/RV/N and NeMo's VM/TM as published; Wen's and MemBench's sets all
memorized; plain files all clean), never from a detector. The training images are img2dataset shards, embedded once
into data/sd/embeddings/<extractor>/ (resumable: finished shards are skipped) and searched exactly, or through an
approximate FAISS index re-ranked exactly when `stable_diffusion.index` names one.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from copyscope import paths, prompt_sets, scale_downloads
from copyscope.config import ConfigError
from copyscope.devices import pick_device
from copyscope.metrics.replication import Matches
from copyscope.models.text_to_image import TextToImage
from copyscope.sampling import Guidance, Prepare, generate
from copyscope.studies.prompt_benchmark import MEMORIZED, DetectionBenchmark
from copyscope.studies.sd_session import SDStudy

NOT_MEMORIZED = "not memorized"  # the group of every prompt its file labels so (Webster's N, clean files)
CHUNK = 64  # prompts generated, embedded and searched at a time


def load_model(study: SDStudy) -> TextToImage:
    """The pipeline on the best device, in the configured precision there (float32 on CPU)."""
    from copyscope.models.stable_diffusion import load_stable_diffusion

    return load_stable_diffusion(study.spec.pipeline, device=pick_device(), dtype=study.precision)


def prompt_benchmark(study: SDStudy) -> DetectionBenchmark:
    """Every prompt file's prompts (a seeded sample of `n_prompts` per file), labelled by their file: memorized
    kinds in the memorized group, the rest (N, clean) in one non-memorized group."""
    spec, rng = study.spec, np.random.default_rng([study.params.seed, 31])
    prompts, kinds, memorized = [], [], []
    for entry in spec.prompts:
        loaded = prompt_sets.load_prompt_set(entry.format, entry.path)
        keep = np.arange(len(loaded)) if spec.n_prompts is None or spec.n_prompts >= len(loaded) else np.sort(
            rng.choice(len(loaded), size=spec.n_prompts, replace=False))
        prompts += [loaded.prompts[i] for i in keep]
        kinds += [loaded.kinds[i] for i in keep]
        memorized += list(loaded.memorized[keep])
    memorized = np.asarray(memorized, dtype=bool)
    if memorized.all() or not memorized.any():
        raise ConfigError("stable_diffusion.prompts: the benchmark needs both memorized and non-memorized prompts; "
                          f"these files give {int(memorized.sum())} memorized of {len(memorized)}")
    return DetectionBenchmark(prompts=prompts, groups=np.where(memorized, MEMORIZED, NOT_MEMORIZED),
                              kinds=np.asarray(kinds), replica_rate=np.full(len(prompts), np.nan))


def embeddings_dir(study: SDStudy) -> Path:
    return paths.repo_root() / "data" / "sd" / "embeddings" / study.spec.extractor


def training_database(study: SDStudy):
    """The training images' embeddings as a search database: embedded here once (finished shards are skipped on
    rerun), searched exactly or through `stable_diffusion.index` (built once, kept beside the embeddings) with exact
    re-ranking."""
    from copyscope.sharded_embedding import EmbeddingJob, embed_shards
    from copyscope.sharded_search import ShardedDatabase

    spec = study.spec
    source = scale_downloads.training_images(spec.training_images)
    job = EmbeddingJob(extractor=spec.extractor, dtype="float16")
    folder = embeddings_dir(study)
    embeddings = embed_shards(source, folder, job, engine="local").embeddings
    if spec.index is None:
        return ShardedDatabase(embeddings)
    index = approximate_index(embeddings, spec.index, folder.with_name(f"{spec.extractor}-index"))
    return ShardedDatabase(embeddings, index)


def approximate_index(embeddings, factory: str, folder: Path):
    """The FAISS index `factory` over `embeddings`: the one saved in `folder` when it was built from this set with
    this factory, else built now and saved there."""
    from copyscope.ann_index import ApproximateIndex
    from copyscope.data.sources import DataError

    try:
        saved = ApproximateIndex.load(folder, embeddings)  # DataError: none there, or one over other rows
        if saved.meta["factory"] == factory:
            return saved
    except DataError:
        pass
    index = ApproximateIndex.build(embeddings, factory)
    index.save(folder)
    return index


def extractor(study: SDStudy):
    """The copy descriptor, its progress bar off (the generation loop shows progress)."""
    from copyscope.embed.registry import get_extractor

    built = get_extractor(study.spec.extractor)
    built.progress = False
    return built


@dataclass
class Searched:
    """Generations reduced to what the studies read: each one's top-1 training match and its CLIP score with the
    prompt it stands for, plus the `kept` most similar generations (and which they are) for galleries."""

    matches: Matches
    clip_score: np.ndarray
    images: np.ndarray  # the kept generations, most similar first
    kept: np.ndarray  # their positions among all generations
    seconds: float  # wall-clock of sampling only


def generate_and_search(study: SDStudy, model: TextToImage, asked: list[str], meant: list[str], database,
                        copy_descriptor, clip_score: Callable | None, seed: int, guidance: Guidance | None = None,
                        prepare: Prepare | None = None, kept: int = 8) -> Searched:
    """Sample one image per prompt of `asked` in chunks (chunk c seeded `seed` + c), embed each chunk, search it
    and score its CLIP alignment with `meant` (the prompts before any mitigation rewrote them; NaN without a
    `clip_score`), keep the `kept` most similar generations so far, and drop the rest."""
    sampling, scores, rows, clip, seconds = study.sampling, [], [], [], 0.0
    best: list[tuple[float, int, np.ndarray]] = []
    for c, start in enumerate(tqdm(range(0, len(asked), CHUNK), desc="generate and search", mininterval=10)):
        began = time.perf_counter()
        chunk = generate(model, asked[start:start + CHUNK], seed=seed + c, steps=sampling.steps,
                         guidance=sampling.guidance if guidance is None else guidance,
                         batch_size=sampling.batch_size, prepare=prepare, progress=False)
        seconds += time.perf_counter() - began
        found = database.top1(np.asarray(copy_descriptor(chunk), dtype=np.float32))
        scores.append(found.scores)
        rows.append(found.indices)
        meaning = meant[start:start + CHUNK]
        clip.append(np.full(len(chunk), np.nan) if clip_score is None else clip_score(chunk, meaning))
        best = sorted(best + [(float(v), start + i, chunk[i].copy()) for i, v in enumerate(found.scores)],
                      key=lambda item: (-item[0], item[1]))[:kept]
    images = np.stack([image for *_, image in best]) if best else np.zeros((0, 1, 1, 3), np.uint8)
    return Searched(Matches(np.concatenate(scores), np.concatenate(rows)), np.concatenate(clip), images,
                    np.array([i for _, i, _ in best], dtype=int), seconds)


def clip_scorer(study: SDStudy):
    """CLIP score (the cosine of image and prompt embeddings, paper B's scale) with the configured open_clip model."""
    from copyscope.alignment.score import PretrainedClipScore
    from copyscope.embed.online import load_open_clip

    spec = study.spec
    model, preprocess, tokenizer = load_open_clip(spec.clip_arch, scale_downloads.clip_checkpoint(spec),
                                                  spec.clip_tag, pick_device())
    return PretrainedClipScore(model, preprocess, tokenizer).score


def training_images_of(study: SDStudy, database, rows: np.ndarray, resolution: int) -> np.ndarray:
    """The training images at global rows of the database (for galleries), read from their shards a batch at a
    time."""
    from copyscope.shards import iter_batches, list_shards

    embeddings = database.embeddings
    source = {s.name: s for s in list_shards(scale_downloads.training_images(study.spec.training_images))}
    wanted = embeddings.ids(np.asarray(rows))
    found = {}
    for name in dict.fromkeys(embeddings.shards[i].name for i in
                              np.searchsorted(embeddings.offsets, rows, side="right") - 1):
        for ids, images in iter_batches(source[name], 256, resolution):
            found.update({i: image for i, image in zip(ids, images) if i in wanted})
    return np.stack([found[i] for i in wanted])
