"""Recording the UNet's cross-attention probabilities softmax(QKᵀ/√d) over the text tokens.

`CrossAttentionRecorder` swaps in recording processors for the cross-attention layers only (with
`unet.set_attn_processor`) and restores the original processors on exit. While `active`, each recording processor
computes the layer's attention probabilities from the same projections, keeps `reduce(probabilities)` (attention
maps are large: reduce them right away), and then lets the original processor produce the layer's output, so the
UNet's result is unchanged.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from diffusers.models.attention_processor import Attention
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

# attention probabilities (batch, heads, queries, text tokens) -> what to keep
Reduce = Callable[[torch.Tensor], torch.Tensor]


def cross_attention_layers(unet: UNet2DConditionModel) -> list[str]:
    """Names of the UNet's cross-attention modules (those attending to the text), in definition order."""
    return [name for name, module in unet.named_modules()
            if isinstance(module, Attention) and module.is_cross_attention]


def attention_probabilities(attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                            attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(QKᵀ/√d) of one attention module as (batch, heads, queries, keys)."""
    if attn.spatial_norm is not None or attn.group_norm is not None or hidden_states.ndim != 3:
        raise NotImplementedError("attention capture supports transformer-block cross-attention on token sequences")
    batch = hidden_states.shape[0]
    if attn.norm_cross:
        encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
    mask = attn.prepare_attention_mask(attention_mask, encoder_hidden_states.shape[1], batch)
    query = attn.head_to_batch_dim(attn.to_q(hidden_states))
    key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
    probabilities = attn.get_attention_scores(query, key, mask)
    return probabilities.reshape(batch, attn.heads, *probabilities.shape[1:])


class _RecordingProcessor:
    def __init__(self, name: str, original, recorder: CrossAttentionRecorder):
        self.name, self.original, self.recorder = name, original, recorder

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        if self.recorder.active:
            probabilities = attention_probabilities(attn, hidden_states, encoder_hidden_states, attention_mask)
            self.recorder.records[self.name] = self.recorder.reduce(probabilities)
        return self.original(attn, hidden_states, encoder_hidden_states=encoder_hidden_states,
                             attention_mask=attention_mask, **kwargs)


class CrossAttentionRecorder:
    """Context manager recording `reduce(attention probabilities)` of cross-attention layers while `active`.

    `records` maps layer name to its latest reduced probabilities, in the order the layers ran in the last UNet
    call (down, mid, up); a later call overwrites, so after sampling it holds the last active step.
    """

    def __init__(self, unet: UNet2DConditionModel, reduce: Reduce, layers: Sequence[str] | None = None,
                 active: bool = True):
        available = cross_attention_layers(unet)
        unknown = sorted(set(layers or ()) - set(available))
        if unknown:
            raise ValueError(f"not cross-attention layers of this UNet: {unknown}; it has {available}")
        self.unet, self.reduce, self.active = unet, reduce, active
        self.layers = list(layers) if layers is not None else available
        self.records: dict[str, torch.Tensor] = {}
        self._original: dict | None = None

    def __enter__(self) -> CrossAttentionRecorder:
        self._original = self.unet.attn_processors
        recording = {f"{name}.processor" for name in self.layers}
        self.unet.set_attn_processor({
            key: _RecordingProcessor(key.removesuffix(".processor"), processor, self) if key in recording
            else processor for key, processor in self._original.items()
        })
        return self

    def __exit__(self, *exc) -> None:
        self.unet.set_attn_processor(self._original)
        self._original = None
