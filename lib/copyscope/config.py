"""params.yaml: named scales over one set of study parameters, validated before any work starts.

Every top-level section holds the whole study's values (the `full` scale); `scales.<name>` overrides any of them
(deep merge; `default` leaves out what the 60-minute budget cannot hold), and the top-level `scale` key picks the
scale, so `dvc exp run -S scale=gpu` switches the whole study. Unknown keys, wrong types and out-of-range values
fail at load time with the offending key path in the message.
"""
from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from copyscope.errors import UserError
from copyscope.paths import params_file


class ConfigError(UserError, ValueError):
    """params.yaml asks for something invalid; the message says which key and why."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Resolution = Annotated[int, Field(ge=8, le=1024, multiple_of=4)]


class ProceduralData(Strict):
    kind: Literal["procedural"]
    n_images: Annotated[int, Field(ge=1, le=6912)]
    resolution: Resolution
    max_objects: Annotated[int, Field(ge=1, le=9)] = 3
    n_captions: Annotated[int, Field(ge=1, le=8)] = 4
    identifiers: bool = True
    seed: int = 0


class ScenesData(Strict):
    """Scenes with brief titled captions and `families` template families (`copyscope.data.scenes`)."""

    kind: Literal["scenes"]
    n_images: Annotated[int, Field(ge=1, le=6912)]
    resolution: Resolution
    max_objects: Annotated[int, Field(ge=2, le=9)] = 4
    n_captions: Annotated[int, Field(ge=1, le=8)] = 4
    families: Annotated[int, Field(ge=0)] = 0
    family_size: Annotated[int, Field(ge=2)] = 3
    n_titles: Annotated[int, Field(ge=1, le=6912)] = 64  # title words, each shared by many images
    seed: int = 0

    @model_validator(mode="after")
    def _families_fit(self) -> "ScenesData":
        if self.families * self.family_size > self.n_images:
            raise ValueError(f"{self.families} families of {self.family_size} do not fit in {self.n_images} images")
        return self


class PackagedData(Strict):
    kind: Literal["digits", "faces"]
    resolution: Resolution


class EmojiData(Strict):
    """OpenMoji's emoji captioned with their names (`copyscope.data.emoji`): all, or per family size n (1 = no
    variants, 6 = an emoji and its five skin tones) that many whole families, drawn with `seed`."""

    kind: Literal["emoji"]
    resolution: Resolution
    family_sizes: dict[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=0)]] | None = None
    seed: int = 0


class FolderData(Strict):
    kind: Literal["folder"]
    path: str
    resolution: Resolution
    captions: str | None = None


Dataset = Annotated[ProceduralData | ScenesData | PackagedData | EmojiData | FolderData,
                    Field(discriminator="kind")]


class Architecture(Strict):
    block_out_channels: list[Annotated[int, Field(ge=4)]] = Field(min_length=1)
    layers_per_block: Annotated[int, Field(ge=1)] = 1
    attention_head_dim: Annotated[int, Field(ge=1)] = 8
    text_width: Annotated[int, Field(ge=8)] = 64
    text_layers: Annotated[int, Field(ge=1)] = 2
    text_heads: Annotated[int, Field(ge=1)] = 4
    max_length: Annotated[int, Field(ge=8, le=77)] = 32
    prediction_type: Literal["epsilon", "v_prediction"] = "epsilon"
    # Stable Diffusion v1's schedule: at t = 999 sqrt(alpha_bar) is about 0.07, so the first sampling step still
    # carries text signal (squaredcos_cap_v2 leaves 5e-5 there, and the conditional part of epsilon vanishes)
    beta_schedule: Literal["scaled_linear", "linear", "squaredcos_cap_v2"] = "scaled_linear"
    beta_start: Annotated[float, Field(gt=0, lt=1)] = 0.00085
    beta_end: Annotated[float, Field(gt=0, lt=1)] = 0.012


class Training(Strict):
    steps: Annotated[int, Field(ge=1)]
    # epochs instead of steps (paper A's size sweep): each unique training image drawn this many times on average;
    # the steps follow from the training-set size and the batch (`steps_for`)
    draws_per_image: Annotated[float, Field(gt=0)] | None = None
    batch_size: Annotated[int, Field(ge=1)]
    lr: Annotated[float, Field(gt=0, lt=1)]
    warmup_steps: Annotated[int, Field(ge=0)] = 100
    lr_schedule: Literal["constant", "constant_with_warmup", "cosine", "linear"] = "cosine"
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    p_uncond: Annotated[float, Field(ge=0, le=1)] = 0.1
    hflip: bool = False
    train_text_encoder: bool = True
    checkpoint_every: Annotated[int, Field(ge=1)] = 500
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    compile: Literal["auto", True, False] = "auto"

    def steps_for(self, n_images: int) -> int:
        """The optimizer steps for `n_images` unique training images: `steps`, or `draws_per_image` epochs."""
        if self.draws_per_image is None:
            return self.steps
        return max(1, math.ceil(self.draws_per_image * n_images / self.batch_size))


class Duplication(Strict):
    """Up-weight `fraction` of the training images by `factor`: image and caption together, or the image alone."""

    fraction: Annotated[float, Field(ge=0, lt=1)] = 0.0
    factor: Annotated[int, Field(ge=1)] = 1
    mode: Literal["image_caption", "image"] = "image_caption"
    # template duplicates: the dataset's template families (same layout, one caption) join the training set, each
    # member up-weighted by this factor (1: families stay out)
    template_factor: Annotated[int, Field(ge=1)] = 1


class MitigationSpec(Strict):
    """A training-time mitigation: its name in `copyscope.mitigation.factory.TRAINING` and its parameters."""

    name: str
    params: dict = Field(default_factory=dict)  # checked against the mitigation's class by copyscope.validation


class ModelSpec(Strict):
    """One trained model: which data, which captions, which duplication and training-time mitigation; `training`
    overrides the shared defaults."""

    dataset: str
    n_train: Annotated[int, Field(ge=2)] | None = None
    captions: Literal["unconditional", "none", "class", "instance", "random"]
    multiple_captions: bool = False
    duplication: Duplication = Duplication()
    mitigation: MitigationSpec = MitigationSpec(name="none")
    # independent trainings of the same data (training seeds params.seed + 0 .. seeds - 1: initialisation, batch
    # order and noise); the training subset and its duplicates stay those of params.seed
    seeds: Annotated[int, Field(ge=0, le=16)] = 1  # 0: not trained at this scale (no study may read it)
    # fine-tune a trained model of the same dataset (seed k starts from its seed k mod its seeds) on images it did not
    # train on, as papers B and C fine-tune a pretrained model; None: train from scratch
    finetune: str | None = None
    training: Training  # the shared `training` section with the model's own overrides merged in


class Sampling(Strict):
    steps: Annotated[int, Field(ge=1, le=1000)]
    guidance: Annotated[float, Field(ge=0)]
    batch_size: Annotated[int, Field(ge=1)] = 256


class CopyBenchmarkSpec(Strict):
    n_copies: Annotated[int, Field(ge=1)]
    n_distractor_queries: Annotated[int, Field(ge=0)]
    n_distractor_database: Annotated[int, Field(ge=0)]
    kind: Literal["cutmix", "segmix", "both"] = "both"
    beta: Annotated[float, Field(gt=0)] = 1.0


PositiveInt = Annotated[int, Field(ge=1)]


class CopyDetectorConfig(Strict):
    """The self-trained copy detector (`copyscope.embed.copy_detector`): network size and contrastive training.
    `image_size` and `seed` are set by the extractors stage from the held-out data and params' `seed`."""

    steps: PositiveInt = 400
    batch_size: Annotated[int, Field(ge=2)] = 128  # in-batch negatives need at least two images
    lr: Annotated[float, Field(gt=0)] = 2e-3
    weight_decay: Annotated[float, Field(ge=0)] = 1e-4
    warmup_steps: Annotated[int, Field(ge=0)] = 30
    dim: PositiveInt = 64  # descriptor size
    width: PositiveInt = 16  # channels of the stem; doubled at each of three stride-2 stages
    temperature: Annotated[float, Field(gt=0)] = 0.1
    koleo_weight: Annotated[float, Field(ge=0)] = 1.0
    image_size: Annotated[int, Field(ge=8, multiple_of=8)] = 16  # three stride-2 stages
    crop_scale: tuple[float, float] = (0.5, 1.0)  # area fraction of the random resized crop
    max_rotation: float = 10.0  # degrees
    p_cutmix: Annotated[float, Field(ge=0, le=1)] = 0.25
    p_segmix: Annotated[float, Field(ge=0, le=1)] = 0.25  # only where masks are given and a masked object shows
    seed: int = 0


class AlignmentConfig(Strict):
    """The alignment stage's small CLIP (`copyscope.alignment.model`): a ViT image tower and a causal text
    transformer over CLIP's BPE vocabulary, and its training. `image_size` and `seed` are set by the stage.
    `mean`/`std` None: OpenAI CLIP's normalisation."""

    image_size: PositiveInt = 16
    patch_size: PositiveInt = 4
    vision_width: PositiveInt = 64
    vision_layers: PositiveInt = 2
    vision_head_width: PositiveInt = 32
    text_width: PositiveInt = 64
    text_layers: PositiveInt = 2
    text_heads: PositiveInt = 4
    context_length: Annotated[int, Field(ge=3)] = 40  # longest caption: 36 BPE tokens + start and end
    embed_dim: PositiveInt = 64
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    steps: PositiveInt = 400
    batch_size: PositiveInt = 128
    lr: Annotated[float, Field(gt=0)] = 2e-3
    warmup_steps: Annotated[int, Field(ge=0)] = 40
    weight_decay: Annotated[float, Field(ge=0)] = 0.1
    seed: int = 0

    @model_validator(mode="after")
    def _divisible(self) -> "AlignmentConfig":
        for whole, part in (("image_size", "patch_size"), ("vision_width", "vision_head_width"),
                            ("text_width", "text_heads")):
            if getattr(self, whole) % getattr(self, part):
                raise ValueError(f"{whole} {getattr(self, whole)} is not a multiple of {part} {getattr(self, part)}")
        return self


class Extractors(Strict):
    """The extractor stage: copy-detector training and the copy benchmark, on a held-out dataset."""

    dataset: str
    n_train: Annotated[int, Field(ge=2)]
    copy_detector: CopyDetectorConfig = CopyDetectorConfig()
    benchmark: CopyBenchmarkSpec
    precision: Annotated[float, Field(gt=0, le=1)] = 0.95
    candidates: list[str] = Field(min_length=1)
    use: str = "best"
    fallback_threshold: Annotated[float, Field(gt=-1, lt=1)]

    @model_validator(mode="after")
    def _use_is_a_candidate(self) -> "Extractors":
        if self.use != "best" and self.use not in self.candidates:
            raise ValueError(f"use: {self.use!r} must be one of the candidates")
        return self


class AlignmentSpec(Strict):
    """The alignment stage: a small CLIP trained on held-out procedural pairs."""

    dataset: str
    n_train: Annotated[int, Field(ge=2)]
    model: AlignmentConfig = AlignmentConfig()


STUDIES = ("replication", "conditioning", "mitigation", "detection")
Models = Annotated[list[str], Field(min_length=1)]


class ReplicationStudy(Strict):
    models: Models  # unconditional models on nested subsets of growing size
    n_generations: Annotated[int, Field(ge=1)]
    gallery: Annotated[int, Field(ge=1, le=64)] = 8
    # paper A's two scores: the global dot product, or the split product over `split_chunks` groups of the
    # extractor's tokens (local copies: one matching region is enough)
    similarity: Literal["dot", "split_product"] = "dot"
    split_chunks: Annotated[int, Field(ge=1)] = 4
    # real data: a text-to-image model on OpenMoji emoji under their names, `emoji_per_item` generations each
    emoji_model: str
    emoji_per_item: Annotated[int, Field(ge=1)] = 4


class ConditioningStudy(Strict):
    models: Models  # one per cell: caption kinds, unconditional, duplication modes
    per_item: Annotated[int, Field(ge=1)]  # generations per training caption
    gallery: Annotated[int, Field(ge=1, le=64)] = 8


class MitigationStudy(Strict):
    baseline: str | None  # the training-time mitigations' baseline twin; null: no training-time cells at this scale
    training: list[str]  # the baseline retrained with a training-time mitigation
    inference_model: str  # the model the inference-time mitigations sample (the detection benchmark's)
    inference: dict[str, dict[str, list]]  # mitigation -> {its strength parameter: values swept}, or {} (defaults)
    per_item: Annotated[int, Field(ge=1)]  # generations per memorized prompt, for its labels and in every cell

    @model_validator(mode="after")
    def _sweeps(self) -> "MitigationStudy":
        if self.baseline is None and self.training:
            raise ValueError("training: training-time mitigations need a baseline twin (mitigation.baseline)")
        for name, sweep in self.inference.items():
            if len(sweep) > 1 or any(not values for values in sweep.values()):
                raise ValueError(f"inference.{name}: sweep one parameter over a non-empty list, got {sweep}")
        return self

    def inference_points(self) -> list[tuple[str, dict]]:
        """Every (mitigation, parameters) pair of the sweeps, in params order."""
        return [(name, point) for name, sweep in self.inference.items()
                for point in ([{key: v} for key, values in sweep.items() for v in values] or [{}])]


class DetectionStudy(Strict):
    model: str
    n_prompts: Annotated[int, Field(ge=2)]  # per non-memorized group (unique training, novel, random tokens)
    verify_generations: Annotated[int, Field(ge=1)]  # per duplicated prompt, to verify it is a replica
    generations: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)  # Wen's table: 1 and 4
    first_steps: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)  # Wen's table: 1, 10 (and all)
    explain: Annotated[int, Field(ge=1, le=16)] = 4  # prompts shown with token bar charts
    control_share: Annotated[float, Field(gt=0, le=1)] = 1.0  # of each kind's prompts, for the untrained control
    batch_size: Annotated[int, Field(ge=1)] = 64


PromptFormat = Literal["wen", "webster", "membench", "nemo", "plain"]  # `copyscope.prompt_sets.LOADERS`


class PromptFile(Strict):
    """One downloaded prompt set: its format and where it is (None: the format's default path under downloads)."""

    format: PromptFormat
    path: str | None = None


class StableDiffusionScale(Strict):
    """The paper-scale path (`copyscope.studies.sd_session`): the replication, mitigation and detection studies on a
    downloaded Stable Diffusion pipeline with the field's prompt sets, searched against a downloaded training-image
    set; nothing is trained, and paper B's conditioning study (fine-tuning) does not run at this scale."""

    pipeline: str = "sd-v1-4"  # a key of `copyscope.models.stable_diffusion.KNOWN` or a diffusers folder
    precision: Literal["fp16", "fp32"] = "fp16"  # fp16 on a GPU; always float32 on CPU
    extractor: str = "sscd_disc_mixup"  # the copy descriptor (registry name)
    replica_threshold: Annotated[float, Field(gt=-1, lt=1)] = 0.5  # similarity above which a generation copies
    # the benchmark's prompts, labelled by their files: Webster's MV/TV/RV/N, NeMo's VM/TM, Wen's and MemBench's
    # all memorized, plain files all clean; the leaderboard needs both memorized and clean prompts among them
    prompts: list[PromptFile] = Field(min_length=1)
    n_prompts: Annotated[int, Field(ge=1)] | None = None  # per prompt file, a seeded sample; None: all
    training_images: str  # img2dataset `files`/`webdataset` shards (or an image folder) under downloads
    index: str | None = None  # FAISS index_factory string for the search (re-ranked exactly); None: exact
    clip_arch: str = "ViT-B-32"  # open_clip model that scores text-image alignment (CLIP score)
    clip_tag: str | None = "laion2b_s34b_b79k"  # its published weights (open_clip's pretrained tag), or
    clip_checkpoint: str | None = None  # a checkpoint file (under downloads) in their place

    @model_validator(mode="after")
    def _clip_weights(self) -> "StableDiffusionScale":
        if (self.clip_tag is None) == (self.clip_checkpoint is None):
            raise ValueError("give exactly one of clip_tag and clip_checkpoint")
        return self


class Params(Strict):
    scale: str
    seed: int = 0
    datasets: dict[str, Dataset]
    architecture: Architecture
    training: Training
    models: dict[str, ModelSpec]
    sampling: Sampling
    extractors: Extractors
    alignment: AlignmentSpec
    replication: ReplicationStudy
    conditioning: ConditioningStudy
    mitigation: MitigationStudy
    detection: DetectionStudy
    stable_diffusion: StableDiffusionScale | None = None  # set: the studies run on Stable Diffusion (the `sd` scale)

    @model_validator(mode="before")
    @classmethod
    def _merge_training(cls, raw: dict) -> dict:
        """Each model's `training` is the shared section with its own overrides on top, validated as one."""
        shared, models = raw.get("training"), raw.get("models")
        if not isinstance(shared, dict) or not isinstance(models, dict):
            return raw
        merged = {name: {**spec, "training": {**shared, **(spec.get("training") or {})}}
                  if isinstance(spec, dict) and isinstance(spec.get("training") or {}, dict) else spec
                  for name, spec in models.items()}
        return {**raw, "models": merged}

    @model_validator(mode="after")
    def _references_exist(self) -> "Params":
        for name, spec in self.models.items():
            if spec.dataset not in self.datasets:
                raise ValueError(f"models.{name}.dataset names unknown dataset {spec.dataset!r}")
        for name, spec in self.models.items():
            base = self.models.get(spec.finetune) if spec.finetune else None
            if spec.finetune and (base is None or base.dataset != spec.dataset or base.finetune
                                  or (spec.seeds and not base.seeds)):
                raise ValueError(f"models.{name}.finetune: {spec.finetune!r} must be a model trained from scratch on "
                                 f"the same dataset ({spec.dataset!r}), and at this scale if {name!r} is")
        for section in ("extractors", "alignment"):
            dataset = getattr(self, section).dataset
            if dataset not in self.datasets:
                raise ValueError(f"{section}.dataset names unknown dataset {dataset!r}")
        for where, name in self.study_models():
            if name not in self.models:
                raise ValueError(f"{where} names unknown model {name!r}")
            if not self.models[name].seeds:
                raise ValueError(f"{where} reads model {name!r}, which has seeds: 0 (not trained at this scale)")
        twins = [self.mitigation.baseline, *self.mitigation.training] if self.mitigation.baseline else []
        for study, names in (("conditioning", self.conditioning.models), ("mitigation", twins)):
            shared = {(self.models[m].dataset, self.models[m].n_train, self.models[m].training,
                       self.models[m].finetune) for m in names}
            if len(shared) > 1:
                raise ValueError(f"{study}: its models must share dataset, n_train, training and finetune, so that "
                                 f"each cell differs in one thing only")
            if study == "mitigation" and len({self.models[m].seeds for m in names}) > 1:
                raise ValueError("mitigation: the twins must have as many seeds as their baseline (paired by seed)")
        return self

    def study_models(self) -> list[tuple[str, str]]:
        """(params key, model name) for every model a study reads (none where the studies run on Stable
        Diffusion)."""
        if self.stable_diffusion is not None:
            return []
        return [
            *(("replication.models", m) for m in self.replication.models),
            ("replication.emoji_model", self.replication.emoji_model),
            *(("conditioning.models", m) for m in self.conditioning.models),
            *(("mitigation.baseline", m) for m in [self.mitigation.baseline] if m is not None),
            *(("mitigation.training", m) for m in self.mitigation.training),
            ("mitigation.inference_model", self.mitigation.inference_model),
            ("detection.model", self.detection.model),
        ]


def deep_merge(base: dict, override: dict) -> dict:
    """A copy of `base` with `override` merged in, recursively for nested dicts."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve(raw: dict, scale: str | None = None) -> Params:
    """Apply the chosen scale's overrides (default: the file's `scale`) and validate the result against the schema
    (`copyscope.validation.load` also checks what only the library can: mitigation and extractor names)."""
    scales = raw.get("scales") or {}
    scale = scale or raw.get("scale")
    if scale not in scales:
        raise ConfigError(f"scale {scale!r} is not one of the scales in params.yaml: {sorted(scales)}")
    base = {k: v for k, v in raw.items() if k != "scales"}
    merged = deep_merge(base, scales[scale] or {})
    merged["scale"] = scale
    try:
        return Params.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(f"params.yaml at scale {scale!r} is invalid: {_problems(err)}") from None


def _problems(err: ValidationError) -> str:
    """Each error as `key.path: message`; an error in the shared `training` section is not repeated for every
    model that inherits it."""
    errors = err.errors()
    shared = {tuple(e["loc"][1:]) for e in errors if e["loc"][:1] == ("training",)}
    kept = [e for e in errors
            if not (e["loc"][:1] == ("models",) and e["loc"][2:3] == ("training",) and tuple(e["loc"][3:]) in shared)]
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in kept)


def load(scale: str | None = None, path: str | Path | None = None) -> Params:
    """Read, merge and validate params.yaml against the schema (no torch import: the prepare stage uses it)."""
    path = Path(path) if path else params_file()
    if not path.is_file():
        raise ConfigError(f"no params file at {path}")
    return resolve(yaml.safe_load(path.read_text()), scale)
