"""Downloaded weights and data: found on disk, never fetched at run time, and one clear error when missing."""
from __future__ import annotations

from pathlib import Path

from copyscope.errors import UserError
from copyscope.paths import downloads_dir


class MissingWeights(UserError, FileNotFoundError):
    """Weights or data that must be downloaded by hand; the message says what, from where, and where to put it."""


def require(path: str | Path, what: str, source: str, how: str | None = None) -> Path:
    """Return `path` (relative paths are under the downloads folder) if it exists, else raise MissingWeights."""
    path = Path(path)
    if not path.is_absolute():
        path = downloads_dir() / path
    if path.exists():
        return path
    hint = f" ({how})" if how else ""
    raise MissingWeights(f"{what} not found at {path}. copyscope never downloads at run time: download it from "
                         f"{source}{hint} and put it at {path}.")
