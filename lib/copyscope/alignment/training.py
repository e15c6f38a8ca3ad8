"""Contrastive training of the small CLIP on image–caption pairs, with open_clip's `ClipLoss`.

Use pairs the diffusion models never saw, e.g. `procedural_set(n, resolution, seed=<not the diffusion data's
seed>, ..., identifiers=False)`. Every step draws a batch of distinct images (epoch-wise permutations) and, for each,
one of its captions at random; all randomness comes from `config.seed`. There is no flip or crop augmentation:
the captions name positions, which a flip would falsify.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from diffusers.optimization import get_cosine_schedule_with_warmup
from open_clip.loss import ClipLoss
from tqdm.auto import tqdm

from copyscope.alignment.model import AlignmentModel
from copyscope.config import AlignmentConfig
from copyscope.data.dataset import ImageCaptionSet
from copyscope.devices import pick_device

MAX_LOGIT_SCALE = float(np.log(100))  # CLIP's clamp on the learnt temperature


def batch_indices(n_images: int, batch_size: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """(steps, batch_size) image indices: consecutive batches of shuffled epochs, so no batch repeats an image."""
    if batch_size > n_images:
        raise ValueError(f"batch_size {batch_size} exceeds the {n_images} training images")
    per_epoch = n_images // batch_size
    epochs = -(-steps // per_epoch)
    order = np.stack([rng.permutation(n_images)[: per_epoch * batch_size] for _ in range(epochs)])
    return order.reshape(-1, batch_size)[:steps]


def draw_captions(counts: np.ndarray, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each image, the row of one of its `counts[image]` captions, drawn uniformly, in the flat caption list
    that holds every image's captions one image after another."""
    first = np.cumsum(counts) - counts
    return first[images] + (rng.random(len(images)) * counts[images]).astype(int)


def train_alignment_model(data: ImageCaptionSet, config: AlignmentConfig = AlignmentConfig(),
                          device: torch.device | str | None = None) -> AlignmentModel:
    """Train a small CLIP on `data` for `config.steps` steps (on CUDA when present unless `device` says otherwise);
    returns it in eval mode with its loss history."""
    model = AlignmentModel.untrained(config, device or pick_device())
    clip = model.model
    rng = np.random.default_rng(config.seed)
    batches = batch_indices(len(data), config.batch_size, config.steps, rng)
    with torch.no_grad():
        pixels = torch.cat([model.prepare_images(data.images[i:i + 1024]) for i in range(0, len(data), 1024)])
        tokens = model.tokenize([c for caps in data.captions for c in caps])
    counts = np.array([len(caps) for caps in data.captions])
    optimizer = torch.optim.AdamW(clip.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = get_cosine_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    loss_fn = ClipLoss()
    losses = []
    clip.train()
    began = time.perf_counter()
    progress = tqdm(batches, desc="train alignment", mininterval=5)
    for step, images in enumerate(progress):
        drawn = draw_captions(counts, images, rng)
        image_features = clip.encode_image(pixels[torch.as_tensor(images, device=pixels.device)], normalize=True)
        text_features = clip.encode_text(tokens[torch.as_tensor(drawn, device=tokens.device)], normalize=True)
        loss = loss_fn(image_features, text_features, clip.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            clip.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        losses.append(loss.item())
        if (step + 1) % 25 == 0:
            progress.set_postfix(loss=f"{np.mean(losses[-25:]):.3f}")
    clip.eval()
    model.history = {"loss": losses, "seconds": time.perf_counter() - began, "n_images": len(data)}
    return model
