"""Drawing landmarks on images: a grid of predictions (red) over ground truth (green)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def draw_landmarks(
    image: np.ndarray,
    pred: np.ndarray,
    gt: np.ndarray | None = None,
    radius: int = 2,
) -> np.ndarray:
    """A copy of an RGB image with ground truth (green) and predictions (red) drawn on it.

    Points are 0-based pixel centres; drawing uses 4 fractional bits so sub-pixel positions show.
    """
    canvas = np.ascontiguousarray(image).copy()
    shift = 4
    scale = 1 << shift

    def dots(points: np.ndarray, colour: tuple[int, int, int]) -> None:
        for x, y in np.round(points * scale).astype(int):
            cv2.circle(canvas, (int(x), int(y)), radius * scale, colour, -1, cv2.LINE_AA, shift)

    if gt is not None:
        dots(gt, (40, 220, 40))
    dots(pred, (230, 30, 30))
    return canvas


def landmark_grid(
    images: Sequence[np.ndarray],
    preds: Sequence[np.ndarray],
    gts: Sequence[np.ndarray] | None = None,
    columns: int = 4,
    tile: int = 192,
) -> np.ndarray:
    """Tile images (drawn with their points) into one RGB grid image."""
    tiles = []
    for i, (image, pred) in enumerate(zip(images, preds, strict=True)):
        scale = tile / max(image.shape[:2])
        resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

        # map 0-based centres through the resize: x' = (x + 0.5) * s - 0.5
        def fit(p: np.ndarray, s: float = scale) -> np.ndarray:
            return (np.asarray(p) + 0.5) * s - 0.5

        drawn = draw_landmarks(resized, fit(pred), None if gts is None else fit(gts[i]))
        padded = np.zeros((tile, tile, 3), np.uint8)
        padded[: drawn.shape[0], : drawn.shape[1]] = drawn
        tiles.append(padded)
    rows = -(-len(tiles) // columns)
    tiles += [np.zeros((tile, tile, 3), np.uint8)] * (rows * columns - len(tiles))
    return np.vstack([np.hstack(tiles[r * columns : (r + 1) * columns]) for r in range(rows)])
