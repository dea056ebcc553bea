"""Where a file format puts its coordinate origin, relative to heatmark's convention.

heatmark stores points as 0-based pixel centres: the centre of the top-left pixel is (0, 0).
Annotation files use one of three conventions, and a reader converts with a constant offset:

- ``ONE_BASED``: the top-left pixel centre is (1, 1). ``.pts`` files (300W, 300VW) and
  MATLAB-made annotations (COFW's ``phis``, LSP's ``joints.mat``) use it, and so do mmpose's face
  jsons, which copy the ``.pts`` / ``.mat`` values verbatim.
- ``ZERO_BASED``: the top-left pixel centre is (0, 0), i.e. the file already uses heatmark's
  convention ("pixel indices"). Values are taken as they are.
- ``PIXEL_CORNER``: continuous coordinates whose integers fall on pixel corners, so the
  top-left pixel centre is (0.5, 0.5) -- the convention of COCO boxes and segmentations.

The shift is rounded once, from the decimal value of each number (``shift_exactly``), so a
value written as ``743.224`` in any file becomes the double nearest 742.224 -- the same double
whichever format it came from -- rather than ``fl(743.224) - 1``, which can differ in the last
bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from decimal import Decimal, localcontext
from enum import Enum

import numpy as np

_DECIMAL_DIGITS = 800  # enough for any finite float64 plus a small offset, without rounding


class CoordinateOrigin(str, Enum):
    """A file's coordinate convention; ``offset`` is added to heatmark points to get file values."""

    ONE_BASED = "one-based"
    ZERO_BASED = "zero-based"
    PIXEL_CORNER = "pixel-corner"

    @property
    def offset(self) -> float:
        """``file_value = heatmark_value + offset``."""
        if self is CoordinateOrigin.ONE_BASED:
            return 1.0
        if self is CoordinateOrigin.PIXEL_CORNER:
            return 0.5
        return 0.0

    def to_heatmark(self, values: np.ndarray) -> np.ndarray:
        """File coordinates -> 0-based pixel centres."""
        return shift_exactly(np.asarray(values, dtype=np.float64), -self.offset)

    def from_heatmark(self, values: np.ndarray) -> np.ndarray:
        """0-based pixel centres -> file coordinates."""
        return shift_exactly(np.asarray(values, dtype=np.float64), self.offset)


def shift_exactly(
    values: np.ndarray, delta: float, texts: Sequence[str] | None = None
) -> np.ndarray:
    """``values + delta``, each rounded once from its decimal value.

    The decimal value is ``texts[i]`` (the number as written in the file) when given, else the
    shortest repr of ``values[i]``. Binary ``v + delta`` is already that result when ``v`` and
    ``v + delta`` share a binade and ``2 <= |v| < 2**52`` (the offsets are then multiples of
    the grid step); only the other values go through decimal arithmetic.
    """
    values = np.asarray(values, dtype=np.float64)
    shifted = values + delta
    if delta == 0 or values.size == 0:
        return shifted
    magnitude = np.abs(values)
    suspect = (
        (magnitude < 2.0) | (magnitude >= 2.0**52) | (np.frexp(values)[1] != np.frexp(shifted)[1])
    )
    if suspect.any():
        flat_values, flat_shifted = values.reshape(-1), shifted.reshape(-1)
        with localcontext() as context:
            context.prec = _DECIMAL_DIGITS
            offset = Decimal(delta)
            for index in np.flatnonzero(suspect.reshape(-1)):
                text = texts[index] if texts is not None else repr(float(flat_values[index]))
                # an exponent beyond Decimal's range (1e-99999999999) read as 0 or inf: the
                # binary sum already is the answer
                with suppress(ArithmeticError):
                    flat_shifted[index] = float(Decimal(text) + offset)
        shifted = flat_shifted.reshape(values.shape)
    return shifted


def plus_exactly(value: float, delta: float) -> str:
    """The exact decimal text of ``value + delta``, from ``value``'s shortest repr.

    Writing this text and reading it back with ``shift_exactly(..., -delta, texts)`` returns
    ``value`` bit for bit.
    """
    with localcontext() as context:
        context.prec = _DECIMAL_DIGITS
        return format(Decimal(repr(float(value))) + Decimal(delta), "f")
