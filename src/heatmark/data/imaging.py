"""Image primitives shared by training augmentation and the robustness protocols.

Pure functions of an RGB uint8 image (never modified): masks, fills, noise and blurs. They sit
in ``heatmark.data``, below both ``heatmark.data.augment`` and
``heatmark.robustness.perturbations``, so every import points down the pipeline.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def ellipse_mask(
    shape: tuple[int, ...], centre: np.ndarray, axes: tuple[float, float], angle_deg: float
) -> np.ndarray:
    """A bool (H, W) mask of a filled ellipse (sub-pixel centre and semi-axes)."""
    mask = np.zeros(shape[:2], np.uint8)
    shift = 4  # OpenCV fixed-point bits: 1/16 px
    scale = 1 << shift
    cv2.ellipse(
        mask,
        (round(float(centre[0]) * scale), round(float(centre[1]) * scale)),
        (round(axes[0] * scale), round(axes[1] * scale)),
        angle_deg,
        0,
        360,
        255,
        thickness=-1,
        lineType=cv2.LINE_8,
        shift=shift,
    )
    return mask.astype(bool)


def fill_region(
    image: np.ndarray,
    mask: np.ndarray,
    colour: tuple[int, int, int],
    rng: np.random.Generator | None = None,
    texture_std: float = 0.0,
) -> np.ndarray:
    """A copy of ``image`` with ``mask`` painted ``colour`` (plus Gaussian texture when
    ``texture_std`` > 0, drawn from ``rng``)."""
    out = image.copy()
    region = np.empty((int(mask.sum()), 3), np.uint8)
    region[:] = colour
    if texture_std > 0 and rng is not None and len(region):
        region = add_noise(region[None], rng, texture_std)[0]
    out[mask] = region
    return out


def add_noise(image: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    """``image`` plus zero-mean Gaussian noise (uint8, saturating). OpenCV's generator, seeded
    from ``rng``, draws it: no float copy of the image. Every channel gets noise (a plain
    scalar ``stddev`` would only reach OpenCV's first channel)."""
    noise = np.empty(image.shape, np.int16)
    cv2.setRNGSeed(int(rng.integers(2**31)))
    cv2.randn(noise, (0.0,) * 4, (float(std),) * 4)
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Isotropic Gaussian blur (sigma in pixels, at least 0.1)."""
    return cv2.GaussianBlur(image, (0, 0), sigmaX=max(float(sigma), 0.1))


def motion_kernel(direction: float, length: float) -> np.ndarray:
    """A normalised line kernel (float32, odd square, sums to 1) of ``length`` pixels along
    ``direction`` (degrees in image axes: 0 is +x, 90 is +y, down). Under 1 px: identity."""
    if not length > 1.0:
        return np.ones((1, 1), np.float32)
    half = math.ceil((length - 1) / 2)
    size = 2 * half + 1
    kernel = np.zeros((size, size), np.float64)
    steps = np.linspace(-(length - 1) / 2, (length - 1) / 2, 8 * math.ceil(length) + 1)
    angle = math.radians(direction)
    xs = half + steps * math.cos(angle)
    ys = half + steps * math.sin(angle)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dx, dy, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        x, y = np.clip(x0 + dx, 0, size - 1), np.clip(y0 + dy, 0, size - 1)
        np.add.at(kernel, (y, x), weight)
    return (kernel / kernel.sum()).astype(np.float32)


def motion_blur(image: np.ndarray, direction: float, length: float) -> np.ndarray:
    """Linear motion blur: ``image`` filtered with ``motion_kernel(direction, length)``."""
    return cv2.filter2D(image, -1, motion_kernel(direction, length), borderType=cv2.BORDER_REFLECT)
