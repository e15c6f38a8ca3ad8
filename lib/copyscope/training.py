"""Seeded, resumable diffusion training of a `TextToImage` on a `TrainingSet`.

Each step's randomness is derived from (seed, step), so a run killed and resumed from its last checkpoint ends with
the same weights as an uninterrupted one. Training-time mitigations plug in through `TrainingHooks`.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.optimization import get_scheduler
from tqdm.auto import tqdm

from copyscope.atomic import atomic_file
from copyscope.config import Training
from copyscope.data.training_set import TrainingSet
from copyscope.models.text_to_image import TextToImage


@dataclass
class TrainingHooks:
    """Where training-time mitigations act: on caption strings, on text embeddings, and on which samples count."""

    captions: Callable[[list[str], np.random.Generator], list[str]] | None = None
    embeddings: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    # keep(model, x_t, t, eps_cond): eps_cond is the training prediction as ε, detached
    keep: Callable[[TextToImage, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None


@dataclass
class TrainingResult:
    steps: int
    seconds: float
    log: list[dict] = field(default_factory=list)  # step, loss, kept fraction


def step_generators(seed: int, step: int, device: torch.device) -> tuple[np.random.Generator, torch.Generator]:
    """The random sources of one training step, reproducible from (seed, step) alone."""
    return np.random.default_rng([seed, step]), torch.Generator(device).manual_seed(seed * 1_000_003 + step)


def train(
    model: TextToImage,
    data: TrainingSet,
    config: Training,
    checkpoint: Path,
    seed: int = 0,
    fingerprint: str = "",
    hooks: TrainingHooks = TrainingHooks(),
    stop_after: int | None = None,
) -> TrainingResult:
    """Train for `config.steps` steps, checkpointing to `checkpoint`; resume from it when its fingerprint matches.

    `precision` and `compile` "auto" mean bf16 autocast and torch.compile on CUDA, fp32 and eager elsewhere.
    `stop_after` ends the run early (after saving a checkpoint), as a kill would; tests use it.
    """
    device = model.device
    cuda = device.type == "cuda"
    bf16 = config.precision == "bf16" or (config.precision == "auto" and cuda)
    compile_unet = config.compile is True or (config.compile == "auto" and cuda)
    model.text_encoder.requires_grad_(config.train_text_encoder)
    params = list(model.unet.parameters())
    if config.train_text_encoder:
        params += list(model.text_encoder.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type in ("cpu", "cuda"))  # one kernel for all parameters
    schedule = get_scheduler(config.lr_schedule, optimizer, num_warmup_steps=config.warmup_steps,
                             num_training_steps=config.steps)
    noise_schedule = model.training_scheduler()
    with torch.no_grad():
        latents = torch.cat([model.to_latents(data.data.images[i:i + 256]) for i in range(0, len(data), 256)])
    start, log, seconds = _resume(model, optimizer, schedule, checkpoint, fingerprint)
    unet = torch.compile(model.unet) if compile_unet else model.unet
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    model.unet.train()
    model.text_encoder.train(config.train_text_encoder)
    began = time.perf_counter() - seconds
    end = config.steps if stop_after is None else min(config.steps, stop_after)
    progress = tqdm(range(start, end), initial=start, total=config.steps, desc="train", mininterval=5)
    for step in progress:
        rng, generator = step_generators(seed, step, device)
        indices, captions = data.draw(rng, config.batch_size)
        if hooks.captions is not None:
            captions = hooks.captions(captions, rng)
        captions = [c if rng.random() >= config.p_uncond else "" for c in captions]
        x0 = latents[torch.as_tensor(indices, device=device)]
        if config.hflip:
            flip = torch.rand(len(x0), generator=generator, device=device) < 0.5
            x0 = torch.where(flip[:, None, None, None], x0.flip(-1), x0)
        noise = torch.randn(x0.shape, generator=generator, device=device)
        t = torch.randint(0, noise_schedule.config.num_train_timesteps, (len(x0),), generator=generator,
                          device=device)
        x_t = noise_schedule.add_noise(x0, noise, t)
        with autocast:
            with torch.set_grad_enabled(config.train_text_encoder):
                embeddings = encode_unique(model, captions)
            if hooks.embeddings is not None:
                embeddings = hooks.embeddings(embeddings, generator)
            pred = unet(x_t, t, encoder_hidden_states=embeddings).sample
        target = model.training_target(x0, noise, t)
        per_sample = F.mse_loss(pred.float(), target, reduction="none").mean(dim=(1, 2, 3))
        keep = torch.ones_like(per_sample, dtype=torch.bool)
        if hooks.keep is not None:
            keep = hooks.keep(model, x_t, t, model.as_eps(pred.detach(), x_t, t))
        loss = (per_sample * keep).sum() / keep.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        log.append({"step": step + 1, "loss": loss.item(), "kept": keep.float().mean().item()})
        if (step + 1) % 50 == 0:
            progress.set_postfix(loss=f"{np.mean([r['loss'] for r in log[-50:]]):.4f}")
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == end:
            _save_checkpoint(model, optimizer, schedule, checkpoint, fingerprint, step + 1, log,
                             time.perf_counter() - began)
    model.unet.eval()
    model.text_encoder.eval()
    return TrainingResult(steps=end, seconds=time.perf_counter() - began, log=log)


def encode_unique(model: TextToImage, captions: list[str]) -> torch.Tensor:
    """`model.encode(captions)`, encoding each distinct caption once (a batch repeats the captions of a small
    training set many times; the text encoder has no dropout, so the result and its gradients are the same)."""
    unique, inverse = np.unique(np.asarray(captions, dtype=object), return_inverse=True)
    return model.encode(list(unique))[torch.as_tensor(inverse, device=model.device)]


def _save_checkpoint(model, optimizer, schedule, path: Path, fingerprint: str, step: int, log: list,
                     seconds: float) -> None:
    state = {
        "fingerprint": fingerprint, "step": step, "log": log, "seconds": seconds,
        "unet": model.unet.state_dict(), "text_encoder": model.text_encoder.state_dict(),
        "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
    }
    with atomic_file(path, "wb") as handle:
        torch.save(state, handle)


def _resume(model, optimizer, schedule, path: Path, fingerprint: str) -> tuple[int, list, float]:
    """Load a matching checkpoint; a missing or mismatched one starts from scratch."""
    if not path.is_file():
        return 0, [], 0.0
    state = torch.load(path, map_location=model.device, weights_only=False)
    if state.get("fingerprint") != fingerprint:
        print(f"ignoring checkpoint {path}: it was written for another configuration")
        return 0, [], 0.0
    model.unet.load_state_dict(state["unet"])
    model.text_encoder.load_state_dict(state["text_encoder"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    print(f"resuming from {path} at step {state['step']}")
    return state["step"], state["log"], state["seconds"]
