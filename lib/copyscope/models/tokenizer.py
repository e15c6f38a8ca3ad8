"""The CLIP BPE tokenizer, built offline from the vocabulary that open_clip ships in its wheel.

The result is a `transformers.CLIPTokenizer` whose ids equal those of OpenAI's CLIP (and so of Stable Diffusion's
tokenizer), which keeps prompts, random-token mitigations and token attributions comparable across models.
"""
from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

from transformers import CLIPTokenizer

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


@functools.lru_cache(maxsize=1)
def _open_clip_tokenizer():
    from open_clip.tokenizer import SimpleTokenizer  # imported here: open_clip takes seconds to import

    return SimpleTokenizer()


def build_clip_tokenizer(max_length: int = 77) -> CLIPTokenizer:
    """A CLIPTokenizer with OpenAI CLIP's 49408-token vocabulary, padding and truncating to `max_length`."""
    source = _open_clip_tokenizer()
    vocab = {t: i for t, i in source.encoder.items() if t not in ("<start_of_text>", "<end_of_text>")}
    vocab.update({BOS: len(vocab), EOS: len(vocab) + 1})
    merges = sorted(source.bpe_ranks, key=source.bpe_ranks.get)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = Path(tmp, "vocab.json"), Path(tmp, "merges.txt")
        vocab_file.write_text(json.dumps(vocab))
        merges_file.write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
        return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=max_length, pad_token=EOS)


@functools.lru_cache(maxsize=1)
def word_tokens() -> tuple[str, ...]:
    """Every ordinary (non-special) vocabulary entry that ends a word, as plain text: the pool for random tokens."""
    source = _open_clip_tokenizer()
    return tuple(t[:-4] for t in source.encoder if t.endswith("</w>") and t[:-4].isascii() and t[:-4].isalnum())
