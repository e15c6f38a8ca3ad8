"""Memorized-prompt sets from Stable Diffusion memorization studies, read from files downloaded by hand.

Each loader reads one published format and labels every prompt with its kind of memorization: Webster's MV
(matching verbatim), TV (template verbatim), RV (retrieval verbatim) and N (none); NeMo's VM (verbatim) and TM
(template); "memorized" for sets that are all memorized (Wen et al., MemBench); "clean" for non-memorized prompts.
Relative paths are under the downloads folder (`copyscope.paths.downloads_dir()`); a missing file raises
`copyscope.downloads.MissingWeights` saying what to download, from where and where to put it. Prompts are stripped
of surrounding whitespace and never deduplicated; a table's other columns are kept per prompt in `PromptSet.extra`.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from copyscope.downloads import require
from copyscope.errors import UserError

MEMORIZED, CLEAN = "memorized", "clean"
WEBSTER_KINDS = ("MV", "TV", "RV", "N")
NEMO_KINDS = ("VM", "TM")
NOT_MEMORIZED = frozenset({"N", CLEAN})
CAPTION_COLUMNS = ("caption", "prompt", "text")  # matched case-insensitively, first found wins

WEN_PATH = "prompts/wen/sdv1_500_memorized.jsonl"
WEBSTER_PATH = "prompts/webster/sdv1_bb_edge_groundtruth.parquet"
MEMBENCH_PATH = "prompts/membench/SD1_final.csv"
NEMO_PATH = "prompts/nemo/memorized_laion_prompts.csv"
PLAIN_PATH = "prompts/clean/coco2014_val_10000.csv"


@dataclass(frozen=True)
class Source:
    """Where a format's default file goes under the downloads folder, what it is, and where to get it."""

    path: str
    what: str
    url: str
    how: str


SOURCES = {
    "wen": Source(WEN_PATH, "Wen et al. 2024 memorized prompts (sdv1_500_memorized.jsonl)",
                  "https://github.com/YuxinWenRick/diffusion_memorization/blob/main/examples/sdv1_500_memorized.jsonl",
                  "the raw file"),
    "webster": Source(WEBSTER_PATH, "Webster 2023 ground-truth prompts (sdv1_bb_edge_groundtruth.parquet)",
                      "https://huggingface.co/datasets/fraisdufour/templates-verbs/resolve/main/groundtruth_parquets/"
                      "sdv1_bb_edge_groundtruth.parquet", "linked from github.com/ryanwebster90/onestep-extraction"),
    "membench": Source(MEMBENCH_PATH, "MemBench trigger prompts (SD1_final.csv)",
                       "https://github.com/chunsanHong/MemBench_code/blob/main/SD1_final.csv", "the raw file"),
    "nemo": Source(NEMO_PATH, "NeMo memorized prompts (memorized_laion_prompts.csv)",
                   "https://github.com/ml-research/localizing_memorization_in_diffusion_models/blob/main/prompts/"
                   "memorized_laion_prompts.csv", "the raw file"),
    "plain": Source(PLAIN_PATH, "non-memorized prompts (coco2014_val_10000.csv)",
                    "https://github.com/ml-research/localizing_memorization_in_diffusion_models/blob/main/prompts/"
                    "coco2014_val_10000.csv", "or use any file with one prompt per line"),
}


def locate(kind: str, path: str | Path | None = None) -> Path:
    """The file of prompt-set format `kind` at `path` (default: the format's path under downloads), else
    MissingWeights saying what to download, from where and where to put it."""
    if kind not in SOURCES:
        raise UserError(f"unknown prompt-set format {kind!r}; choose one of {', '.join(SOURCES)}")
    source = SOURCES[kind]
    return require(source.path if path is None else path, source.what, source.url, source.how)


@dataclass
class PromptSet:
    """Prompts with one kind each, where they came from, and each prompt's other fields from the file."""

    prompts: list[str]
    kinds: list[str]
    source: str
    extra: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self.extra = self.extra or [{} for _ in self.prompts]
        if not len(self.prompts) == len(self.kinds) == len(self.extra):
            raise ValueError("prompts, kinds and extra must have one entry per prompt")

    def __len__(self) -> int:
        return len(self.prompts)

    def counts(self) -> dict[str, int]:
        """How many prompts of each kind, in order of first appearance."""
        return dict(Counter(self.kinds))

    @property
    def memorized(self) -> np.ndarray:
        """Boolean mask: True for every kind but N and clean."""
        return np.array([kind not in NOT_MEMORIZED for kind in self.kinds], dtype=bool)


def load_wen(path: str | Path | None = None) -> PromptSet:
    """Wen et al. 2024's 500 memorized Stable Diffusion v1 prompts, JSON lines with the prompt under "caption".

    Download examples/sdv1_500_memorized.jsonl from github.com/YuxinWenRick/diffusion_memorization and put it at
    <downloads>/prompts/wen/sdv1_500_memorized.jsonl. Every prompt's kind is "memorized"."""
    path = locate("wen", path)
    records = _json_lines(path)
    if records and not any("caption" in record for record in records):
        raise UserError(f"{path} has no \"caption\" key; keys found: {', '.join(sorted(records[0]))}")
    prompts = _prompts([record.get("caption") for record in records], path)
    extra = [{k: v for k, v in record.items() if k != "caption"} for record in records]
    return PromptSet(prompts, [MEMORIZED] * len(prompts), f"wen:{path}", extra)


def load_webster(path: str | Path | None = None) -> PromptSet:
    """Webster 2023's ground-truth parquet: a "caption" column and an "overfit_type" column of MV, TV, RV or N.

    Download one of the ground-truth parquets linked from github.com/ryanwebster90/onestep-extraction (SD v1
    blackbox: groundtruth_parquets/sdv1_bb_edge_groundtruth.parquet in the Hugging Face dataset
    fraisdufour/templates-verbs) and put it at <downloads>/prompts/webster/sdv1_bb_edge_groundtruth.parquet."""
    path = locate("webster", path)
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read parquet file {path}: {err}") from err
    return _labelled_set(frame, path, f"webster:{path}", ("overfit_type",), WEBSTER_KINDS)


def load_membench(path: str | Path | None = None) -> PromptSet:
    """MemBench's Stable Diffusion 1 trigger prompts: a CSV with a "prompt" column (and "urls" of the images).

    Download SD1_final.csv from github.com/chunsanHong/MemBench_code and put it at
    <downloads>/prompts/membench/SD1_final.csv. Every prompt's kind is "memorized"."""
    path = locate("membench", path)
    return _unlabelled_set(_read_csv(path), path, f"membench:{path}", MEMORIZED)


def load_nemo(path: str | Path | None = None) -> PromptSet:
    """NeMo's (Hintersdorf et al. 2024) memorized LAION prompts: a ";"-separated CSV with "Caption" and a "type"
    column of VM (verbatim) or TM (template).

    Download prompts/memorized_laion_prompts.csv from github.com/ml-research/localizing_memorization_in_diffusion_models
    and put it at <downloads>/prompts/nemo/memorized_laion_prompts.csv."""
    path = locate("nemo", path)
    return _labelled_set(_read_csv(path), path, f"nemo:{path}", ("type",), NEMO_KINDS)


def load_plain(path: str | Path | None = None) -> PromptSet:
    """Non-memorized prompts, kind "clean": a .csv/.tsv with a caption, prompt or text column, or any other file
    as text with one prompt per line (blank lines skipped).

    The default is NeMo's COCO captions: download prompts/coco2014_val_10000.csv from
    github.com/ml-research/localizing_memorization_in_diffusion_models and put it at
    <downloads>/prompts/clean/coco2014_val_10000.csv, or pass your own file."""
    path = locate("plain", path)
    if path.suffix.lower() in (".csv", ".tsv"):
        return _unlabelled_set(_read_csv(path), path, f"plain:{path}", CLEAN)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 text: {err}") from err
    prompts = _prompts([line for line in lines if line.strip()], path)
    return PromptSet(prompts, [CLEAN] * len(prompts), f"plain:{path}")


LOADERS = {"wen": load_wen, "webster": load_webster, "membench": load_membench, "nemo": load_nemo, "plain": load_plain}


def load_prompt_set(kind: str, path: str | Path | None = None) -> PromptSet:
    """The prompt set in format `kind` (one of LOADERS) at `path`, or at that format's default download path."""
    if kind not in LOADERS:
        raise UserError(f"unknown prompt-set format {kind!r}; choose one of {', '.join(LOADERS)}")
    return LOADERS[kind](path)


def _json_lines(path: Path) -> list[dict]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path} line {number} is not JSON: {err}") from err
        if not isinstance(record, dict):
            raise UserError(f"{path} line {number} is not a JSON object")
        records.append(record)
    return records


def _read_csv(path: Path) -> pd.DataFrame:
    """Every column as text, exactly as written; the separator (",", ";" or tab) is the header's most frequent."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = handle.readline()
    separator = max((",", ";", "\t"), key=header.count)
    try:
        return pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read CSV file {path}: {err}") from err


def _column(frame: pd.DataFrame, names: tuple[str, ...], path: Path, what: str) -> str:
    """The first column named one of `names`, ignoring case and surrounding spaces."""
    found = {str(column).strip().lower(): column for column in frame.columns}
    for name in names:
        if name in found:
            return found[name]
    raise UserError(f"{path} has no {what} column (expected one of {', '.join(names)}); columns found: "
                    f"{', '.join(map(str, frame.columns)) or 'none'}")


def _prompts(values: list, path: Path) -> list[str]:
    """Stripped prompts; a missing or blank one, or none at all, means a malformed file."""
    prompts = []
    for number, value in enumerate(values, start=1):
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            raise UserError(f"{path}: prompt {number} is missing or empty")
        prompts.append(text)
    if not prompts:
        raise UserError(f"{path} holds no prompts")
    return prompts


def _extra(frame: pd.DataFrame, used: tuple[str, ...]) -> list[dict]:
    """Each row's other columns, leaving out pandas' unnamed index columns."""
    keep = [c for c in frame.columns if c not in used and not str(c).startswith("Unnamed:")]
    return frame[keep].to_dict("records")


def _unlabelled_set(frame: pd.DataFrame, path: Path, source: str, kind: str) -> PromptSet:
    caption = _column(frame, CAPTION_COLUMNS, path, "caption")
    prompts = _prompts(frame[caption].tolist(), path)
    return PromptSet(prompts, [kind] * len(prompts), source, _extra(frame, (caption,)))


def _labelled_set(frame: pd.DataFrame, path: Path, source: str, label_names: tuple[str, ...],
                  allowed: tuple[str, ...]) -> PromptSet:
    caption = _column(frame, CAPTION_COLUMNS, path, "caption")
    label = _column(frame, label_names, path, "label")
    prompts = _prompts(frame[caption].tolist(), path)
    kinds = [str(value).strip() for value in frame[label]]
    unknown = sorted(set(kinds) - set(allowed))
    if unknown:
        raise UserError(f"{path}: unknown {label} value(s) {', '.join(map(repr, unknown[:5]))}; expected one of "
                        f"{', '.join(allowed)}")
    return PromptSet(prompts, kinds, source, _extra(frame, (caption, label)))
