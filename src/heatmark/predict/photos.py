"""Reading the photos users give ``heatmark predict``: any size, any pixel format, bounded memory.

OpenCV's ``IMREAD_COLOR`` already turns grey, 16-bit, RGBA (alpha dropped) and CMYK files into
8-bit colour. What it does not bound is memory: a 12,000 x 12,000 px photo takes 432 MB as RGB
and as much again for each copy. Photos of more than ``MAX_PIXELS`` are therefore decoded at
1/2, 1/4 or 1/8 of their size (``IMREAD_REDUCED_COLOR_*``: JPEG decodes straight to the small
size), the landmarks are found on that copy and mapped back to the photo's own pixels
(``Photo.to_original``), so the output never depends on the reduction except for precision
(a face in such a photo is hundreds of pixels wide). Headers are read first (Pillow, without
decoding); a file beyond Pillow's decompression-bomb limit (about 179 megapixels) or still over
``MAX_PIXELS`` at 1/8 is refused with a ``DataError`` naming its size.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

from heatmark.data.sample import as_rgb, read_image_bytes
from heatmark.errors import DataError
from heatmark.predict.faces import Face

MAX_PIXELS = 40_000_000
"""Photos above this many pixels are decoded at a reduced size (about 120 MB as RGB)."""
REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}
REDUCED_FLAGS[8] = cv2.IMREAD_REDUCED_COLOR_8


@dataclass
class Photo:
    """Decoded RGB pixels and how they relate to the stored photo.

    ``factor``: stored pixels per decoded pixel (1, 2, 4 or 8); ``size``: the stored photo's
    ``(width, height)``.
    """

    rgb: np.ndarray
    factor: int
    size: tuple[int, int]

    def to_original(self, faces: list[Face]) -> list[Face]:
        """``faces`` found on ``rgb`` moved to the stored photo's pixel centres (in place)."""
        if self.factor == 1:
            return faces
        f = float(self.factor)
        for face in faces:
            # decoded pixel i averages stored pixels i*f .. i*f + f - 1: centre (i + 0.5) f - 0.5
            face.points = (face.points + 0.5) * f - 0.5
            face.box = (np.asarray(face.box, dtype=np.float64) + 0.5) * f - 0.5
            if face.raw_points is not None:
                face.raw_points = (face.raw_points + 0.5) * f - 0.5
        return faces


def header_size(data: bytes | np.ndarray, where: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` from the file's header, None when Pillow cannot tell (OpenCV may
    still decode it). A decompression bomb (Pillow's limit) is a ``DataError``."""
    import io

    buffer = io.BytesIO(data if isinstance(data, bytes) else data.tobytes())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            with PIL.Image.open(buffer) as image:
                return image.size
    except PIL.Image.DecompressionBombError:
        raise DataError(
            where,
            f"image too large: more than {2 * (PIL.Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} "
            "megapixels (refused to protect memory); downscale it first",
        ) from None
    except Exception:  # any header Pillow cannot parse: let OpenCV try
        return None


def reduction(size: tuple[int, int] | None, max_pixels: int = MAX_PIXELS) -> int:
    """The decoding factor (1, 2, 4 or 8) that brings ``size`` within ``max_pixels``; 0 when
    even 1/8 is too large."""
    if size is None:
        return 1
    width, height = size
    for factor in (1, 2, 4, 8):
        if (width // factor) * (height // factor) <= max_pixels:
            return factor
    return 0


def decode_photo(
    data: bytes | np.ndarray, where: str | Path, max_pixels: int = MAX_PIXELS
) -> Photo:
    """Encoded photo bytes -> ``Photo`` (module docstring); ``DataError`` naming ``where``."""
    buffer = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    if buffer.size == 0:
        raise DataError(where, "empty image file")
    size = header_size(buffer, where)
    factor = reduction(size, max_pixels)
    if factor == 0:
        width, height = size or (0, 0)
        raise DataError(
            where,
            f"image too large: {width} x {height} px is over {max_pixels / 1e6:.0f} megapixels "
            "even at 1/8 of its size; downscale it first",
        )
    flags = (REDUCED_FLAGS[factor] if factor > 1 else cv2.IMREAD_COLOR) | (
        cv2.IMREAD_IGNORE_ORIENTATION
    )
    try:
        image = cv2.imdecode(buffer, flags)
    except cv2.error as error:  # OpenCV's own pixel limit, allocation failures
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown"
        raise DataError(where, f"cannot decode image ({reason})") from None
    if image is None:
        raise DataError(where, "cannot decode image (not an image, or truncated)")
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if size is None:
        size = (rgb.shape[1] * factor, rgb.shape[0] * factor)
    return Photo(rgb, factor, (int(size[0]), int(size[1])))


def read_photo(path: Path | str, max_pixels: int = MAX_PIXELS) -> Photo:
    """The photo at ``path`` (module docstring); ``DataError`` naming it when it cannot be."""
    path = Path(path)
    return decode_photo(read_image_bytes(path), path, max_pixels)


def as_photo(image: object, max_pixels: int = MAX_PIXELS) -> Photo:
    """A path, encoded bytes or an RGB/grey/RGBA uint8 array as a ``Photo`` (arrays as given)."""
    if isinstance(image, str | Path):
        return read_photo(image, max_pixels)
    if isinstance(image, bytes | bytearray | memoryview):
        return decode_photo(bytes(image), "<bytes>", max_pixels)
    rgb = as_rgb(np.asarray(image), "image array")
    return Photo(rgb, 1, (rgb.shape[1], rgb.shape[0]))
