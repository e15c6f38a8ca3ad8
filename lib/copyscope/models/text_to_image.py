"""One text-to-image interface over diffusers components, shared by the embedded pixel model and Stable Diffusion.

Every study talks to a `TextToImage`: encode prompts, predict noise, map between images and the diffusion space,
and make schedulers. The embedded model diffuses pixels directly (no VAE); Stable Diffusion diffuses VAE latents.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from copyscope.atomic import atomic_directory
from copyscope.models.tokenizer import build_clip_tokenizer, load_tokenizer

MANIFEST = "copyscope.json"


@dataclass
class TextToImage:
    """A text-conditional diffusion model: UNet, CLIP text encoder and tokenizer, schedule, and an optional VAE."""

    unet: UNet2DConditionModel
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    scheduler_config: dict
    vae: AutoencoderKL | None = None
    _alpha_bar: torch.Tensor | None = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        return (self.unet.config.in_channels, size, size)

    @property
    def resolution(self) -> int:
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1) if self.vae is not None else 1
        return self.unet.config.sample_size * factor

    def to(self, device: torch.device | str) -> "TextToImage":
        for module in self.modules():
            module.to(device)
        return self

    def modules(self) -> list[torch.nn.Module]:
        return [m for m in (self.unet, self.text_encoder, self.vae) if m is not None]

    def tokenize(self, prompts: list[str]) -> torch.Tensor:
        """Token ids, padded and truncated to the tokenizer's length."""
        return self.tokenizer(
            list(prompts), padding="max_length", truncation=True, max_length=self.tokenizer.model_max_length,
            return_tensors="pt",
        ).input_ids.to(self.device)

    def encode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Text-encoder output embeddings (B, L, D) of token ids: what the UNet cross-attends to."""
        return self.text_encoder(ids)[0]

    def encode(self, prompts: list[str]) -> torch.Tensor:
        return self.encode_ids(self.tokenize(prompts))

    @property
    def prediction_type(self) -> str:
        return self.scheduler_config.get("prediction_type", "epsilon")

    def eps(self, x: torch.Tensor, t: torch.Tensor | int, embeddings: torch.Tensor) -> torch.Tensor:
        """The noise prediction ε(x_t, t, e), converted from v when the UNet predicts velocity."""
        if not torch.is_tensor(t) or t.ndim == 0:
            t = torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long)
        return self.as_eps(self.unet(x, t, encoder_hidden_states=embeddings).sample, x, t)

    def as_eps(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The UNet's output at (x_t, t) as a noise prediction: itself for ε-prediction, converted from v."""
        if self.prediction_type == "epsilon":
            return out
        alpha_bar = self._alphas_cumprod(x.device)[t].view(-1, 1, 1, 1).to(out.dtype)
        return alpha_bar.sqrt() * out + (1 - alpha_bar).sqrt() * x

    def training_target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the UNet is trained to output for x_t = add_noise(x0, noise, t): ε or v."""
        if self.prediction_type == "epsilon":
            return noise
        alpha_bar = self._alphas_cumprod(x0.device)[t].view(-1, 1, 1, 1)
        return alpha_bar.sqrt() * noise - (1 - alpha_bar).sqrt() * x0

    def _alphas_cumprod(self, device: torch.device) -> torch.Tensor:
        if self._alpha_bar is None or self._alpha_bar.device != device:
            self._alpha_bar = self.training_scheduler().alphas_cumprod.to(device)
        return self._alpha_bar

    def to_latents(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) images to the space the UNet diffuses."""
        x = torch.as_tensor(np.asarray(images), device=self.device).permute(0, 3, 1, 2).float() / 127.5 - 1
        if self.vae is None:
            return x
        return self.vae.encode(x.to(self.vae.dtype)).latent_dist.sample() * self.vae.config.scaling_factor

    @torch.no_grad()
    def to_images(self, latents: torch.Tensor) -> np.ndarray:
        """Diffusion-space samples back to uint8 (N, H, W, 3) images."""
        x = latents if self.vae is None else self.vae.decode(latents / self.vae.config.scaling_factor).sample
        x = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return x.permute(0, 2, 3, 1).cpu().numpy()

    def training_scheduler(self) -> DDPMScheduler:
        return DDPMScheduler.from_config(self.scheduler_config)

    def sampling_scheduler(self) -> DDIMScheduler:
        """DDIM over ε (what `eps` returns), its steps spread to end at the last training timestep."""
        return DDIMScheduler.from_config(self.scheduler_config, prediction_type="epsilon",
                                         timestep_spacing="trailing")

    def save(self, path: str | Path) -> None:
        """save_pretrained every component into one folder, written atomically."""
        with atomic_directory(path) as tmp:
            self.unet.save_pretrained(tmp / "unet")
            self.text_encoder.save_pretrained(tmp / "text_encoder")
            self.tokenizer.save_pretrained(tmp / "tokenizer")
            self.training_scheduler().save_pretrained(tmp / "scheduler")
            if self.vae is not None:
                self.vae.save_pretrained(tmp / "vae")
            (tmp / MANIFEST).write_text(json.dumps({"resolution": self.resolution, "vae": self.vae is not None}))

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> "TextToImage":
        """Load a folder written by `save`."""
        path = Path(path)
        if not (path / MANIFEST).is_file():
            raise FileNotFoundError(f"{path} is not a saved copyscope model (no {MANIFEST}); train it first")
        has_vae = json.loads((path / MANIFEST).read_text())["vae"]
        model = cls(
            unet=UNet2DConditionModel.from_pretrained(path / "unet", low_cpu_mem_usage=False),
            text_encoder=CLIPTextModel.from_pretrained(path / "text_encoder"),
            tokenizer=load_tokenizer(path / "tokenizer"),
            scheduler_config=dict(DDPMScheduler.load_config(path / "scheduler")),
            vae=AutoencoderKL.from_pretrained(path / "vae", low_cpu_mem_usage=False) if has_vae else None,
        )
        return model.to(device)


def build_pixel_model(
    resolution: int,
    block_out_channels: list[int],
    layers_per_block: int = 1,
    attention_head_dim: int = 8,
    text_width: int = 64,
    text_layers: int = 2,
    text_heads: int = 4,
    max_length: int = 32,
    train_timesteps: int = 1000,
    prediction_type: str = "epsilon",
    beta_schedule: str = "scaled_linear",
    beta_start: float = 0.00085,
    beta_end: float = 0.012,
    seed: int = 0,
) -> TextToImage:
    """A small pixel-space text-to-image model, randomly initialised with `seed`; by default on Stable Diffusion v1's
    schedule (DDPM `scaled_linear` β 0.00085–0.012 over 1000 steps, ε-prediction).

    The first UNet level is convolutional only; every lower level cross-attends to the text, as in Stable Diffusion.
    """
    torch.manual_seed(seed)
    levels = len(block_out_channels)
    if resolution % 2 ** (levels - 1):
        raise ValueError(f"resolution {resolution} is not divisible by 2**{levels - 1} for {levels} UNet levels")
    unet = UNet2DConditionModel(
        sample_size=resolution, in_channels=3, out_channels=3, block_out_channels=tuple(block_out_channels),
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (levels - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (levels - 1) + ("UpBlock2D",),
        layers_per_block=layers_per_block, cross_attention_dim=text_width, attention_head_dim=attention_head_dim,
        norm_num_groups=min(8, block_out_channels[0]),
    )
    tokenizer = build_clip_tokenizer(max_length)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=text_width, intermediate_size=2 * text_width,
        num_hidden_layers=text_layers, num_attention_heads=text_heads, max_position_embeddings=max_length,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    ))
    schedule = DDPMScheduler(num_train_timesteps=train_timesteps, beta_schedule=beta_schedule, beta_start=beta_start,
                             beta_end=beta_end, clip_sample=True, prediction_type=prediction_type)
    return TextToImage(unet, text_encoder, tokenizer, dict(schedule.config))
