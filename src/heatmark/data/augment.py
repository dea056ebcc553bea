"""The training augmentation of the Adaptive Wing paper, as one affine warp per sample.

Geometry (rotation, scale, translation, horizontal flip) is folded into a single 3x3 matrix that
is applied to the pixels and to the points alike, so they cannot drift apart; a flip also
permutes the points with the scheme's mirror table. Photometric changes (Gaussian blur, noise,
random occlusion, brightness/contrast) touch the pixels only.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from heatmark.data.geometry import horizontal_flip_matrix, similarity_about
from heatmark.data.imaging import add_noise, fill_region, gaussian_blur

REFERENCE_INPUT_SIZE = 256


class AugmentConfig(BaseModel):
    """Augmentation ranges. Defaults are the AWing paper's: rotation +-50 deg, translation
    +-25 px (of a 256 input; scaled with the input size), scale +-15 %, flip 50 %, plus blur,
    noise and occlusion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rotation_deg: float = Field(50.0, ge=0, le=180)
    translation_px: float = Field(25.0, ge=0)
    scale: float = Field(0.15, ge=0, lt=1)
    flip_probability: float = Field(0.5, ge=0, le=1)
    blur_probability: float = Field(0.2, ge=0, le=1)
    blur_sigma_max: float = Field(2.0, gt=0)
    noise_probability: float = Field(0.2, ge=0, le=1)
    noise_std_max: float = Field(12.0, ge=0, description="grey levels of 255")
    occlusion_probability: float = Field(0.3, ge=0, le=1)
    occlusion_max_fraction: float = Field(0.4, gt=0, le=1, description="of the input side")
    colour_probability: float = Field(0.3, ge=0, le=1)


def random_geometry(
    rng: np.random.Generator, input_size: int, config: AugmentConfig
) -> tuple[np.ndarray, bool]:
    """A random similarity (+ optional mirror) about the crop centre, and whether it flips."""
    centre = np.full(2, (input_size - 1) / 2.0)
    shift = config.translation_px * input_size / REFERENCE_INPUT_SIZE
    matrix = similarity_about(
        centre,
        rotation_deg=rng.uniform(-config.rotation_deg, config.rotation_deg),
        scale=rng.uniform(1 - config.scale, 1 + config.scale),
        translation=tuple(rng.uniform(-shift, shift, size=2)),
    )
    flip = bool(rng.random() < config.flip_probability)
    if flip:
        matrix = horizontal_flip_matrix(input_size) @ matrix
    return matrix, flip


def random_photometric(
    rng: np.random.Generator, image: np.ndarray, config: AugmentConfig
) -> np.ndarray:
    """Blur, noise, occlusion and brightness/contrast on an RGB uint8 crop (a new array).

    Uses OpenCV's saturating uint8 arithmetic throughout: no float copies of the image. The
    blur, occlusion and noise primitives (``heatmark.data.imaging``) are those of the robustness
    protocols, driven by this ``rng``.
    """
    out = image.copy()
    size = image.shape[0]
    if rng.random() < config.colour_probability:
        gain = rng.uniform(0.7, 1.3, size=3)
        bias = rng.uniform(-25, 25)
        out = cv2.transform(out, np.hstack([np.diag(gain), np.full((3, 1), bias)]))
    if rng.random() < config.blur_probability:
        sigma = rng.uniform(0.3, config.blur_sigma_max) * size / REFERENCE_INPUT_SIZE
        out = gaussian_blur(out, sigma)
    if rng.random() < config.occlusion_probability:
        max_side = config.occlusion_max_fraction * size
        w, h = rng.uniform(0.1 * max_side, max_side, size=2).astype(int) + 1
        x0 = int(rng.integers(0, max(size - w, 1)))
        y0 = int(rng.integers(0, max(size - h, 1)))
        mask = np.zeros(out.shape[:2], bool)
        mask[y0 : y0 + h, x0 : x0 + w] = True
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        out = fill_region(out, mask, colour, rng, texture_std=20.0)
    if rng.random() < config.noise_probability:
        out = add_noise(out, rng, float(rng.uniform(0, config.noise_std_max)))
    return out
