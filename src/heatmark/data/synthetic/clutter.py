"""Everything around and over the face: background clutter, occluders and camera damage.

All drawing uses OpenCV with 4 fractional bits (``shift=4``); OpenCV puts integer coordinates on
pixel centres, the heatmark convention, so points need no half-pixel correction.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

SHIFT = 4
_ONE = 1 << SHIFT


def fixed(points: np.ndarray) -> np.ndarray:
    """Pixel-centre coordinates as OpenCV fixed-point integers (``shift=SHIFT``)."""
    return np.rint(points * _ONE).astype(np.int32)


def random_colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, ...]:
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def _rotated_box(centre: np.ndarray, width: float, height: float, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [width / 2, height / 2]
    return centre + corners @ np.array([[c, s], [-s, c]])


def draw_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A cluttered RGB background: a smooth colour field, then random shapes and lines.

    Shapes: boxes, ellipses (filled or outlined), random walks, stripe patches, random
    polygons and straight edges across the image; sometimes blurred as if out of focus.
    """
    grid = int(rng.integers(2, 8))
    field = rng.uniform(0, 255, size=3) + rng.normal(0, rng.uniform(10, 90), size=(grid, grid, 3))
    image = cv2.resize(
        np.clip(field, 0, 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_LINEAR
    )

    count = int(rng.integers(1, 14))
    colours = rng.integers(0, 256, size=(count, 3)).tolist()
    kinds = rng.integers(0, 6, size=count).tolist()
    draws = rng.random((count, 8))
    for colour, kind, u in zip(colours, kinds, draws, strict=True):
        cx, cy = (u[0] * 1.2 - 0.1) * size, (u[1] * 1.2 - 0.1) * size
        extent = (0.05 + 0.55 * u[2]) * size
        angle = math.pi * u[3]
        c, s = math.cos(angle), math.sin(angle)
        if kind == 0:  # box
            w, h = extent / 2, extent * (0.1 + 0.65 * u[4])
            box = np.array(
                [
                    [cx - c * w + s * h, cy - s * w - c * h],
                    [cx + c * w + s * h, cy + s * w - c * h],
                    [cx + c * w - s * h, cy + s * w + c * h],
                    [cx - c * w - s * h, cy - s * w + c * h],
                ]
            )
            cv2.fillPoly(image, [fixed(box)], colour, cv2.LINE_AA, SHIFT)
        elif kind == 1:  # ellipse
            axes = (int(extent * _ONE / 2), int(extent * (0.3 + 0.7 * u[4]) * _ONE / 2))
            thickness = -1 if u[5] < 0.6 else 1 + int(5 * u[6])
            cv2.ellipse(
                image,
                (int(cx * _ONE), int(cy * _ONE)),
                axes,
                180 * u[3],
                0,
                360,
                colour,
                thickness,
                cv2.LINE_AA,
                SHIFT,
            )
        elif kind == 2:  # random walk
            steps = rng.normal(0, extent / 4, size=(2 + int(6 * u[4]), 2))
            walk = np.cumsum(steps, axis=0) + (cx, cy)
            cv2.polylines(
                image, [fixed(walk)], False, colour, 1 + int(7 * u[5]), cv2.LINE_AA, SHIFT
            )
        elif kind == 3:  # stripes
            step = 3 + 9 * u[4]
            offsets = (np.arange(int(extent / step) + 1) - extent / step / 2) * step
            starts = np.stack(
                [cx - s * offsets - c * extent / 2, cy + c * offsets - s * extent / 2], axis=1
            )
            lines = np.stack([starts, starts + (c * extent, s * extent)], axis=1)
            cv2.polylines(
                image, list(fixed(lines)), False, colour, 1 + int(2 * u[5]), cv2.LINE_AA, SHIFT
            )
        elif kind == 4:  # random polygon
            corners = 3 + int(5 * u[4])
            angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
            radii = extent / 2 * rng.uniform(0.4, 1.0, corners)
            polygon = np.stack([cx + np.cos(angles) * radii, cy + np.sin(angles) * radii], 1)
            cv2.fillPoly(image, [fixed(polygon)], colour, cv2.LINE_AA, SHIFT)
        else:  # a straight edge across the image (a wall corner, a door, a table)
            reach = 2 * size
            line = np.array([[cx - c * reach, cy - s * reach], [cx + c * reach, cy + s * reach]])
            cv2.polylines(
                image, [fixed(line)], False, colour, 1 + int(11 * u[5]), cv2.LINE_AA, SHIFT
            )
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 3.0) * size / 256)
    return image


def draw_occluder(
    rng: np.random.Generator,
    image: np.ndarray,
    points: np.ndarray,
    iod: float,
    skin_colours: list[tuple[int, ...]],
) -> np.ndarray:
    """Draw one occluder over part of the face into ``image``; return its coverage mask (uint8).

    Kinds: a box, an ellipse, a hand (palm and fingers in a skin tone), sunglasses, a bar
    (a pen, a microphone, a strand of hair) and a face mask over the lower face. ``points`` are
    the face's 68 landmarks in pixels and ``iod`` its eye-centre distance in pixels.
    """
    size = image.shape[0]
    mask = np.zeros(image.shape[:2], np.uint8)
    anchor = points[int(rng.integers(68))] + rng.normal(0, 0.3 * iod, size=2)
    colour = random_colour(rng)
    kind = int(rng.integers(6))
    if kind == 0:
        box = _rotated_box(
            anchor, iod * rng.uniform(0.5, 1.8), iod * rng.uniform(0.5, 1.8), rng.uniform(0, np.pi)
        )
        cv2.fillPoly(mask, [fixed(box)], 255, cv2.LINE_AA, SHIFT)
    elif kind == 1:
        axes = tuple(int(iod * rng.uniform(0.3, 0.9) * _ONE) for _ in range(2))
        cv2.ellipse(
            mask,
            tuple(fixed(anchor)),
            axes,
            float(rng.uniform(0, 180)),
            0,
            360,
            255,
            -1,
            cv2.LINE_AA,
            SHIFT,
        )
    elif kind == 2:
        colour = skin_colours[int(rng.integers(len(skin_colours)))]
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)])
        across = np.array([-direction[1], direction[0]])
        palm = (int(0.45 * iod * _ONE), int(0.55 * iod * _ONE))
        cv2.ellipse(
            mask,
            tuple(fixed(anchor)),
            palm,
            float(np.rad2deg(angle)) + 90,
            0,
            360,
            255,
            -1,
            cv2.LINE_AA,
            SHIFT,
        )
        finger = max(2, int(0.17 * iod))
        for k, length in enumerate(rng.uniform(0.55, 0.85, size=4)):
            base = anchor + direction * 0.4 * iod + across * (k - 1.5) * 0.2 * iod
            tip = base + (direction + across * (k - 1.5) * 0.12) * length * iod
            cv2.line(mask, tuple(fixed(base)), tuple(fixed(tip)), 255, finger, cv2.LINE_AA, SHIFT)
        thumb_base = anchor + across * 0.4 * iod
        thumb_tip = thumb_base + (across + direction * 0.8) * 0.45 * iod
        cv2.line(
            mask,
            tuple(fixed(thumb_base)),
            tuple(fixed(thumb_tip)),
            255,
            finger + 1,
            cv2.LINE_AA,
            SHIFT,
        )
    elif kind == 3:
        colour = random_colour(rng, 0, 90)
        eyes = [points[36:42].mean(0), points[42:48].mean(0)]
        tilt = np.rad2deg(np.arctan2(*(eyes[1] - eyes[0])[::-1]))
        lens = tuple(int(iod * f * _ONE) for f in rng.uniform([0.26, 0.16], [0.36, 0.26]))
        for eye in eyes:
            cv2.ellipse(
                mask, tuple(fixed(eye)), lens, float(tilt), 0, 360, 255, -1, cv2.LINE_AA, SHIFT
            )
        cv2.line(
            mask,
            tuple(fixed(eyes[0])),
            tuple(fixed(eyes[1])),
            255,
            max(1, int(0.06 * iod)),
            cv2.LINE_AA,
            SHIFT,
        )
    elif kind == 4:
        angle = rng.uniform(0, np.pi)
        half = np.array([np.cos(angle), np.sin(angle)]) * iod * rng.uniform(0.8, 1.6)
        cv2.line(
            mask,
            tuple(fixed(anchor - half)),
            tuple(fixed(anchor + half)),
            255,
            max(2, int(iod * rng.uniform(0.12, 0.4))),
            cv2.LINE_AA,
            SHIFT,
        )
    else:
        colour = random_colour(rng, 150, 256) if rng.random() < 0.7 else random_colour(rng, 0, 80)
        top = points[28] + (points[28] - points[8]) * rng.uniform(-0.1, 0.15)
        cheeks = points[[1, 15]] + (points[[1, 15]] - points[30]) * 0.1
        polygon = np.concatenate([points[2:15], cheeks[::-1][:1], [top], cheeks[:1]])
        hull = cv2.convexHull(polygon.astype(np.float32))[:, 0]
        cv2.fillPoly(mask, [fixed(hull)], 255, cv2.LINE_AA, SHIFT)

    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return mask
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    patch = np.empty((y1 - y0, x1 - x0, 3), np.float32)
    patch[:] = colour
    if rng.random() < 0.4:  # a printed or woven texture
        step = rng.uniform(2, 8) * size / 256
        yy, xx = np.mgrid[y0:y1, x0:x1]
        angle = rng.uniform(0, np.pi)
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) / step)
        patch += (wave[..., None] * rng.uniform(15, 60)).astype(np.float32)
    elif kind in (2, 3):  # shading across a hand or a lens
        ramp = np.linspace(1.15, 0.8, y1 - y0, dtype=np.float32)[:, None, None]
        patch *= ramp
    alpha = mask[y0:y1, x0:x1, None].astype(np.float32) / 255
    region = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = np.clip(region + alpha * (patch - region), 0, 255).astype(np.uint8)
    return mask


@lru_cache(maxsize=4)
def _noise_bank(size: int) -> np.ndarray:
    """Fixed unit Gaussian noise (2 size x 2 size); images take random windows of it, which is
    much faster than fresh normal samples and just as deterministic."""
    return np.random.default_rng(20190930).standard_normal((2 * size, 2 * size), dtype=np.float32)


def degrade(rng: np.random.Generator, image: np.ndarray, strength: float) -> np.ndarray:
    """Camera and compression damage: colour cast, sensor noise, blur, greyscale, JPEG.

    ``strength`` 0 returns the image unchanged; 1 gives the default mix.
    """
    if strength == 0:
        return image
    size = image.shape[0]
    gain = (rng.uniform(0.75, 1.25) * rng.uniform(0.9, 1.1, size=3)).astype(np.float32)
    bias = rng.normal(0, 10, size=3).astype(np.float32)
    work = image.astype(np.float32)
    work *= gain
    work += bias
    if rng.random() < 0.7 * strength:
        x, y = rng.integers(0, size, size=2)
        sigma = np.float32(rng.uniform(1.0, 8.0) * strength)
        work += (_noise_bank(size)[y : y + size, x : x + size] * sigma)[..., None]
    np.clip(work, 0, 255, out=work)
    image = work.astype(np.uint8)
    blur = rng.random()
    if blur < 0.2 * strength:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.5) * size / 256)
    elif blur < 0.3 * strength:
        length = int(rng.integers(3, 10))
        kernel = np.zeros((length, length), np.float32)
        angle = rng.uniform(0, np.pi)
        end = (length - 1) / 2 * np.array([np.cos(angle), np.sin(angle)])
        centre = (length - 1) / 2
        cv2.line(
            kernel,
            tuple(fixed(centre - end)),
            tuple(fixed(centre + end)),
            1.0,
            1,
            cv2.LINE_AA,
            SHIFT,
        )
        image = cv2.filter2D(image, -1, kernel / kernel.sum())
    if rng.random() < 0.08 * strength:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        image = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    if rng.random() < 0.3 * strength:
        quality = int(rng.integers(20, 90))
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            image = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED).reshape(image.shape)
    return image
