"""Affine geometry of crops and warps, in the heatmark pixel convention (0-based pixel centres).

All transforms are 3x3 homogeneous matrices mapping source coordinates to destination
coordinates. ``cv2.warpAffine`` samples destination pixel centre (x, y) at M^-1 (x, y) with the
same convention (integer coordinates are pixel centres), so points and pixels stay exactly
aligned when both go through the same matrix.
"""

from __future__ import annotations

import cv2
import numpy as np


def square_box(box: np.ndarray, enlarge: float = 1.0) -> tuple[np.ndarray, float]:
    """Centre and side of the square on the longer side of ``box`` (x0, y0, x1, y1), enlarged."""
    x0, y0, x1, y1 = (float(v) for v in box)
    centre = np.array([(x0 + x1) / 2.0, (y0 + y1) / 2.0])
    side = max(x1 - x0, y1 - y0) * enlarge
    if not side > 0:
        raise ValueError(f"degenerate box {list(box)}")
    return centre, side


def crop_matrix(centre: np.ndarray, side: float, output_size: int) -> np.ndarray:
    """Map the square of ``side`` around ``centre`` onto an ``output_size`` image.

    The square's edges [c - side/2, c + side/2] land on the output's pixel edges
    [-0.5, output_size - 0.5]; the centre lands on (output_size - 1) / 2.
    """
    scale = output_size / side
    out_centre = (output_size - 1) / 2.0
    return np.array(
        [
            [scale, 0.0, out_centre - scale * centre[0]],
            [0.0, scale, out_centre - scale * centre[1]],
            [0.0, 0.0, 1.0],
        ]
    )


def box_crop_matrix(box: np.ndarray, output_size: int, enlarge: float = 1.0) -> np.ndarray:
    """Crop matrix for a face box: a square on its longer side, ``enlarge`` times larger."""
    centre, side = square_box(box, enlarge)
    return crop_matrix(centre, side, output_size)


def similarity_about(
    centre: np.ndarray,
    rotation_deg: float = 0.0,
    scale: float = 1.0,
    translation: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Rotate (counter-clockwise as seen on screen) and scale about ``centre``, then translate."""
    theta = np.deg2rad(rotation_deg)
    c, s = np.cos(theta) * scale, np.sin(theta) * scale
    # y points down in images: a counter-clockwise turn on screen is
    # (x, y) -> (c x + s y, -s x + c y).
    linear = np.array([[c, s], [-s, c]])
    offset = np.asarray(centre) + np.asarray(translation) - linear @ np.asarray(centre)
    return np.array([[*linear[0], offset[0]], [*linear[1], offset[1]], [0.0, 0.0, 1.0]])


def horizontal_flip_matrix(width: int) -> np.ndarray:
    """Mirror an image ``width`` pixels wide: x -> width - 1 - x."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 (or 2x3) affine matrix to (..., 2) points."""
    m = np.asarray(matrix, dtype=np.float64)
    return points @ m[:2, :2].T + m[:2, 2]


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 3x3 affine matrix."""
    return np.linalg.inv(np.asarray(matrix, dtype=np.float64))


def warp_image(
    image: np.ndarray, matrix: np.ndarray, output_size: int, border_value: int = 0
) -> np.ndarray:
    """Warp ``image`` with ``matrix`` into an ``output_size`` square (bilinear, constant border)."""
    return cv2.warpAffine(
        image,
        np.asarray(matrix, dtype=np.float64)[:2],
        (output_size, output_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border_value, border_value, border_value),
    )
