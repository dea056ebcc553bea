"""``heatmark predict INPUT...``: images, folders (recursive), globs and videos -> keyed items.

Keys follow ``heatmark eval``'s rule, so predict output scores against the same folder: a file
inside a folder given on the command line is keyed by its path relative to that folder,
without suffix (``afw/1051618982_1``); a file given by itself by its name without suffix; a
glob's matches relative to the glob's fixed leading folder.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from heatmark.data.readers.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from heatmark.errors import DataError

IMAGE_TYPES = {suffix.lower() for suffix in IMAGE_SUFFIXES} | {".webp", ".tif", ".tiff"}
VIDEO_TYPES = {suffix.lower() for suffix in VIDEO_SUFFIXES} | {".webm", ".m4v"}


@dataclass(frozen=True)
class InputItem:
    """One image or video to run on, and its output key."""

    path: Path
    key: str
    is_video: bool


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_TYPES:
        return "image"
    if suffix in VIDEO_TYPES:
        return "video"
    return None


def _key(path: Path, root: Path | None) -> str:
    relative = path.relative_to(root) if root is not None else Path(path.name)
    return relative.with_suffix("").as_posix()


def expand_inputs(inputs: list[str]) -> list[InputItem]:
    """Every image and video named by ``inputs``, in a stable order, keys unique.

    A path that does not exist and matches no glob, a folder without images or videos, or a
    file of another type is a ``DataError`` naming it.
    """
    items: list[InputItem] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _kind(p))
            if not found:
                raise DataError(path, "no image or video files in this folder (recursive)")
            items += [InputItem(p, _key(p, path), _kind(p) == "video") for p in found]
        elif path.is_file():
            if _kind(path) is None:
                raise DataError(path, "not an image or video file (by its suffix)")
            items.append(InputItem(path, _key(path, None), _kind(path) == "video"))
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            matches = [m for m in matches if m.is_file() and _kind(m)]
            if not matches:
                raise DataError(text, "the pattern matches no image or video file")
            root = _glob_root(text)
            items += [InputItem(m, _key(m, root), _kind(m) == "video") for m in matches]
        else:
            raise DataError(path, "no such file, folder or pattern")
    seen: dict[str, Path] = {}
    for item in items:
        if item.key in seen and seen[item.key] != item.path:
            raise DataError(
                item.path,
                f"has the same output key {item.key!r} as {seen[item.key]}; "
                "give their common folder instead",
            )
        seen[item.key] = item.path
    return list({item.path: item for item in items}.values())


def _glob_root(pattern: str) -> Path:
    """The folder made of a pattern's leading parts without wildcards (``.`` if none)."""
    parts = []
    for part in Path(pattern).parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")
