"""File-system helpers shared by the readers: image look-up and existence checks, JSON files.

Images are never decoded at read time: a reader checks that the file exists (a cheap ``stat``)
and reads its size from the header (``heatmark.data.sample.image_size``), so a missing or
unreadable image fails when the dataset is loaded rather than mid-training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from heatmark.data.sample import is_file
from heatmark.errors import DataError

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".png", ".jpeg", ".bmp", ".JPG", ".PNG", ".JPEG")
VIDEO_SUFFIXES: tuple[str, ...] = (".avi", ".mp4", ".mov", ".mkv", ".AVI", ".MP4")


def image_beside(stem: str, directory: Path, names: set[str]) -> Path | None:
    """The image ``stem + suffix`` among the file ``names`` of ``directory``, if any."""
    for suffix in IMAGE_SUFFIXES:
        if stem + suffix in names:
            return directory / (stem + suffix)
    return None


def require_image(image: Path, source: str | Path, line: int | None = None) -> Path:
    """Return ``image`` if it is a file, else raise ``DataError`` at the annotation ``source``."""
    if not is_file(image):
        raise DataError(source, f"image file not found: {image}", line)
    return image


def choose_root(candidates: Iterable[Path], relative: str) -> Path:
    """The first candidate folder in which ``relative`` exists; the first candidate otherwise.

    Used to find an image root next to an annotation file (``WFLW_images``, ``data/flickr``...)
    when the caller gives none; a wrong guess still ends in a ``DataError`` naming the image.
    """
    ordered = list(dict.fromkeys(candidates))
    for folder in ordered:
        if is_file(folder / relative):
            return folder
    return ordered[0]


def read_json(path: Path, what: str = "json file") -> object:
    """Parse a JSON file; a missing, unreadable or invalid file raises ``DataError`` naming it
    (and the line of a syntax error)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, f"{what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read {what} ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} (column {exc.colno})"
        raise DataError(path, message, exc.lineno) from None
    except ValueError as exc:  # an integer literal of more than 4,300 digits
        raise DataError(path, f"not valid JSON: {exc}") from None
    except RecursionError:
        raise DataError(path, "not valid JSON: nested too deeply") from None
