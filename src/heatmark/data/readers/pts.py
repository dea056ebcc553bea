"""The ``.pts`` landmark file of the iBUG 300-W / 300-VW releases, read and written.

Layout (one point per line, 1-based pixel coordinates: the top-left pixel centre is (1, 1))::

    version: 1
    n_points: 68
    {
    x1 y1
    ...
    }

Reading converts to heatmark's 0-based pixel centres (subtract 1); writing adds 1 back. The
shift is done on the decimal text, not in binary floating point (where ``(x + 1) - 1`` need not
be ``x``): writing adds 1 to the shortest decimal that reads back as ``x``, reading subtracts 1
from the decimal in the file and rounds once. So ``read_pts`` after ``write_pts`` returns
exactly the points written, and a file value ``743.224`` reads as the double nearest 742.224.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from heatmark.data.readers.origin import CoordinateOrigin, plus_exactly, shift_exactly
from heatmark.errors import DataError

PTS_ORIGIN = CoordinateOrigin.ONE_BASED

# ASCII digits only: str.isdigit, float() and \d also take other scripts' digits, numpy does not
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
# The fast path takes plain decimals whose integer part has at most 308 digits: those are
# finite doubles. Anything else (exponents, longer numbers) is checked line by line, where a
# value that overflows to infinity (``1e400``) is reported with its line.
_PLAIN = r"[-+]?(?:[0-9]{1,308}(?:\.[0-9]*)?|\.[0-9]+)"
_POINT_BLOCK = re.compile(rf"(?:[ \t]*(?:{_PLAIN}[ \t]+{_PLAIN}[ \t]*)?(?:\n|$))*")


def read_pts(path: Path, num_points: int | None = None) -> np.ndarray:
    """Read a ``.pts`` file as (K, 2) float64 0-based pixel centres.

    Raises ``DataError`` naming the file (and line) for a missing file, a missing ``{`` or
    ``}``, a header ``n_points`` that disagrees with the block, a line that is not two finite
    numbers, or a point count other than ``num_points`` (when given).
    """
    return pts_to_points(read_pts_tokens(path, num_points))


def parse_pts(text: str, path: Path | str, num_points: int | None = None) -> np.ndarray:
    """Parse the text of a ``.pts`` file; ``path`` is only used in error messages."""
    return pts_to_points(pts_tokens(text, path, num_points))


def read_pts_tokens(path: Path, num_points: int | None = None) -> list[str]:
    """The validated coordinate texts of a ``.pts`` file, x1 y1 x2 y2 ... (file convention).

    Callers that read many files convert all tokens at once with ``pts_to_points``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(path, "annotation file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read annotation file ({exc})") from None
    return pts_tokens(text, path, num_points)


def pts_to_points(tokens: list[str]) -> np.ndarray:
    """Coordinate texts of ``.pts`` files -> (K, 2) 0-based points (1 subtracted exactly)."""
    return shift_exactly(np.array(tokens, dtype=np.float64), -PTS_ORIGIN.offset, tokens).reshape(
        -1, 2
    )


def pts_tokens(text: str, path: Path | str, num_points: int | None = None) -> list[str]:
    """Validate the text of a ``.pts`` file and return its coordinate texts."""
    lines = text.splitlines()
    declared: int | None = None
    declared_line = 0
    brace = -1
    for index, raw in enumerate(lines):
        line = raw.strip()
        if line == "{":
            brace = index
            break
        if not line:
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise DataError(
                path, f"expected a 'key: value' header or '{{', got {line!r}", index + 1
            )
        if key.strip() == "n_points":
            try:
                declared = int(value)
            except ValueError:
                raise DataError(
                    path, f"n_points is not an integer: {value.strip()!r}", index + 1
                ) from None
            declared_line = index + 1
    if brace < 0:
        raise DataError(path, "missing '{' before the points (not a .pts file, or truncated)")

    closing = next(
        (index for index in range(brace + 1, len(lines)) if lines[index].strip() == "}"), -1
    )
    if closing < 0:
        raise DataError(path, "missing '}' after the points (file truncated?)", len(lines))
    for index in range(closing + 1, len(lines)):
        if lines[index].strip():
            raise DataError(
                path, f"unexpected text after '}}': {lines[index].strip()!r}", index + 1
            )
    block = "\n".join(lines[brace + 1 : closing])
    if _POINT_BLOCK.fullmatch(block):  # fast path: every line is two plain numbers
        tokens = block.split()
    else:
        tokens = _point_line_tokens(lines, brace + 1, closing, path)
    count = len(tokens) // 2
    if count == 0:
        raise DataError(path, "the point block is empty")
    if declared is not None and declared != count:
        raise DataError(
            path,
            f"header says n_points: {declared} but the block holds {count} points",
            declared_line,
        )
    if num_points is not None and count != num_points:
        raise DataError(path, f"expected {num_points} points, got {count}")
    return tokens


def _point_line_tokens(lines: list[str], start: int, stop: int, path: Path | str) -> list[str]:
    """Line-by-line check of the point block, raising a ``DataError`` at the first bad line."""
    tokens: list[str] = []
    for index in range(start, stop):
        line = lines[index].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 2:
            raise DataError(path, f"expected two numbers 'x y', got {line!r}", index + 1)
        if not all(_NUMBER.fullmatch(field) for field in fields):
            if all(_NUMBER.fullmatch(field) or _is_not_finite(field) for field in fields):
                raise DataError(path, f"coordinate is not finite: {line!r}", index + 1)
            raise DataError(path, f"non-numeric coordinate in {line!r}", index + 1)
        x, y = float(fields[0]), float(fields[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DataError(path, f"coordinate is not finite: {line!r}", index + 1)
        tokens += fields
    return tokens


def _is_not_finite(text: str) -> bool:
    """True for ``nan``, ``inf``, ``-Infinity``... (texts Python reads as a non-finite float)."""
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def pts_point_line(path: Path | str, index: int) -> int | None:
    """The 1-based line of 0-based point ``index`` in the ``.pts`` file ``path``, if it has one.

    Only used to place an error message, so the file is simply read again.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    brace = next((number for number, line in enumerate(lines) if line.strip() == "{"), None)
    if brace is None:
        return None
    seen = 0
    for number in range(brace + 1, len(lines)):
        stripped = lines[number].strip()
        if stripped == "}":
            return None
        if stripped:
            if seen == index:
                return number + 1
            seen += 1
    return None


def format_pts(points: np.ndarray) -> str:
    """The ``.pts`` text for (K, 2) points in heatmark's 0-based convention."""
    values = np.asarray(points, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 2 or values.shape[0] == 0:
        raise ValueError(f"points must have shape (K, 2) with K > 0, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("points must be finite to be written to a .pts file")
    offset = PTS_ORIGIN.offset
    body = "\n".join(f"{plus_exactly(x, offset)} {plus_exactly(y, offset)}" for x, y in values)
    return f"version: 1\nn_points: {len(values)}\n{{\n{body}\n}}\n"


def write_pts(path: Path, points: np.ndarray) -> Path:
    """Write (K, 2) 0-based points as a 1-based ``.pts`` file (parent folders are created)."""
    path = Path(path)
    text = format_pts(points)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
