"""Drawing predicted faces on images (``--draw`` and ``--video-out``).

Points are drawn with sub-pixel precision (OpenCV's ``shift``) at heatmark's 0-based pixel
centres, which are OpenCV's integer coordinates too; nothing is moved by half a pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from heatmark.predict.faces import Face

Color = tuple[int, int, int]

POINT_COLOR: Color = (0, 255, 0)
BOX_COLOR: Color = (255, 200, 0)
RAW_COLOR: Color = (160, 160, 160)
SHIFT = 4  # sub-pixel bits: coordinates are drawn at 1/16 pixel
SCALE = 1 << SHIFT


def score_color(score: float, low: float = 0.0, high: float = 1.0) -> Color:
    """Red at ``low`` (or below), yellow halfway, green at ``high`` (or above), in RGB."""
    span = high - low
    t = float(np.clip((score - low) / span, 0.0, 1.0)) if span > 0 else 1.0
    if not np.isfinite(t):
        t = 0.0
    if t < 0.5:
        return (255, round(510 * t), 0)
    return (round(510 * (1.0 - t)), 255, 0)


def _fixed(point: np.ndarray) -> tuple[int, int]:
    return round(float(point[0]) * SCALE), round(float(point[1]) * SCALE)


def _draw_points(
    image: np.ndarray,
    points: np.ndarray,
    colors: Sequence[Color],
    radius: int,
) -> None:
    for point, color in zip(points, colors, strict=True):
        if np.all(np.isfinite(point)):
            cv2.circle(image, _fixed(point), radius * SCALE, color, -1, cv2.LINE_AA, SHIFT)


def draw_faces(
    rgb: np.ndarray,
    faces: Sequence[Face],
    *,
    boxes: bool = True,
    ids: bool = True,
    raw: bool = False,
    score_colors: bool = False,
    score_range: tuple[float, float] = (0.0, 1.0),
    color: Color = POINT_COLOR,
    box_color: Color = BOX_COLOR,
    radius: int | None = None,
) -> np.ndarray:
    """A copy of the RGB image with each face's points, box and track id drawn on it.

    Args:
        rgb: RGB uint8 (H, W, 3); not modified.
        faces: the faces to draw.
        boxes: draw ``face.box``.
        ids: write ``#track_id`` above the box (faces with a track id only).
        raw: also draw the unsmoothed ``raw_points`` (grey, under the smoothed ones).
        score_colors: colour each point by its score (red low .. green high within
            ``score_range``) instead of ``color``.
        radius: point radius in pixels (default: ~1 % of the face size, at least 1).
    """
    image = np.ascontiguousarray(rgb).copy()
    height, width = image.shape[:2]
    thickness = max(1, round(min(height, width) / 400))
    for face in faces:
        points = np.asarray(face.points, dtype=np.float64).reshape(-1, 2)
        finite = points[np.all(np.isfinite(points), axis=1)]
        size = float(np.max(finite.max(axis=0) - finite.min(axis=0))) if len(finite) else 0.0
        r = radius if radius is not None else max(1, round(size / 100))
        box = np.asarray(face.box, dtype=np.float64).reshape(-1)
        box_ok = box.shape == (4,) and bool(np.all(np.isfinite(box)))
        if boxes and box_ok:
            cv2.rectangle(
                image, _fixed(box[:2]), _fixed(box[2:]), box_color, thickness, cv2.LINE_AA, SHIFT
            )
        if raw and face.raw_points is not None:
            raw_points = np.asarray(face.raw_points, dtype=np.float64).reshape(-1, 2)
            _draw_points(image, raw_points, [RAW_COLOR] * len(raw_points), r)
        if score_colors:
            scores = np.asarray(face.scores, dtype=np.float64).reshape(-1)
            colors = [score_color(s, *score_range) for s in scores]
        else:
            colors = [color] * len(points)
        _draw_points(image, points, colors, r)
        if ids and face.track_id is not None:
            anchor = box[:2] if box_ok else (finite.min(axis=0) if len(finite) else None)
            if anchor is not None:
                scale = max(0.4, min(height, width) / 600)
                x = int(np.clip(anchor[0], 0, width - 1))
                y = int(np.clip(anchor[1] - 4 * thickness, 12 * scale, height - 1))
                cv2.putText(
                    image,
                    f"#{face.track_id}",
                    (x, y),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    scale,
                    box_color,
                    thickness,
                    cv2.LINE_AA,
                )
    return image
