"""The CLIP BPE tokenizer, built offline from the vocabulary that open_clip ships in its wheel.

The result is a `transformers.CLIPTokenizer` whose ids equal those of OpenAI's CLIP (and so of Stable Diffusion's
tokenizer), which keeps prompts, random-token mitigations and token attributions comparable across models.
"""
from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from pathlib import Path

from transformers import CLIPTokenizer

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


@functools.lru_cache(maxsize=1)
def _open_clip_tokenizer():
    from open_clip.tokenizer import SimpleTokenizer  # imported here: open_clip takes seconds to import

    return SimpleTokenizer()


@functools.lru_cache(maxsize=4)
def build_clip_tokenizer(max_length: int = 77) -> CLIPTokenizer:
    """A CLIPTokenizer with OpenAI CLIP's 49408-token vocabulary, padding and truncating to `max_length`; built once
    per length and shared between models, so never mutated."""
    source = _open_clip_tokenizer()
    vocab = {t: i for t, i in source.encoder.items() if t not in ("<start_of_text>", "<end_of_text>")}
    vocab.update({BOS: len(vocab), EOS: len(vocab) + 1})
    merges = sorted(source.bpe_ranks, key=source.bpe_ranks.get)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file, merges_file = Path(tmp, "vocab.json"), Path(tmp, "merges.txt")
        vocab_file.write_text(json.dumps(vocab))
        merges_file.write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
        return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=max_length, pad_token=EOS)


_LOADED: dict[str, CLIPTokenizer] = {}


def load_tokenizer(folder: str | Path) -> CLIPTokenizer:
    """`CLIPTokenizer.from_pretrained(folder)`, loaded once per distinct set of files: every copyscope model saves the
    same tokenizer, and parsing it is most of a small model's load time (0.35 of 0.43 s, measured here). Shared
    between models, so never mutated."""
    digest = hashlib.sha256()
    for file in sorted(Path(folder).iterdir()):
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    key = digest.hexdigest()
    if key not in _LOADED:
        _LOADED[key] = CLIPTokenizer.from_pretrained(folder)
    return _LOADED[key]


@functools.lru_cache(maxsize=1)
def word_tokens() -> tuple[str, ...]:
    """Every ordinary (non-special) vocabulary entry that ends a word, as plain text: the pool for random tokens."""
    source = _open_clip_tokenizer()
    return tuple(t[:-4] for t in source.encoder if t.endswith("</w>") and t[:-4].isascii() and t[:-4].isalnum())
