"""Procedurally rendered faces with exact 68-point labels, so heatmark can train with nothing
downloaded (``heatmark demo``, the CI integration test).

Each face is a random person (identity, expression, hair, colours) built as a 3D 68-point model
(``shape``, ``head``), turned by a random pose, projected, and drawn with OpenCV from the very
same projected points (``render``) over background clutter, with occluders and camera damage
on top (``clutter``). Face ``index`` of ``seed`` depends on nothing else, so any slice of the
set can be rendered on demand, in any order or process, byte for byte the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heatmark.data.sample import Sample
from heatmark.data.synthetic.clutter import degrade, draw_background, draw_occluder
from heatmark.data.synthetic.head import build_head, sample_head_style, self_occluded
from heatmark.data.synthetic.render import (
    coverage_mask,
    draw_body,
    draw_face_box,
    random_skin,
    sample_palette,
)
from heatmark.data.synthetic.shape import (
    Pose,
    apply_expression,
    sample_expression,
    sample_identity,
    sample_pose,
)
from heatmark.schemes import FACE_68


@dataclass(frozen=True)
class Variation:
    """How much the synthetic faces vary. The defaults are the demo's training set.

    Attributes:
        max_yaw, max_pitch, max_roll: pose limits in degrees (half the faces uniform within
            them, half near frontal).
        face_fraction: range of the face size (longer side of the landmark box) as a fraction of
            the image side; all 68 points stay at least 2 pixels inside the image.
        identity: scale of the per-person shape changes (0: the mean face).
        expression: scale of the expressions (0: neutral).
        occlusion_rate: probability of an occluder over part of the face.
        clutter: draw a cluttered background (else a flat grey one).
        degradation: scale of the camera damage (0: none).
    """

    max_yaw: float = 45.0
    max_pitch: float = 20.0
    max_roll: float = 30.0
    face_fraction: tuple[float, float] = (0.35, 0.75)
    identity: float = 1.0
    expression: float = 1.0
    occlusion_rate: float = 0.3
    clutter: bool = True
    degradation: float = 1.0

    def __post_init__(self) -> None:
        for name, limit in (("max_yaw", 50.0), ("max_pitch", 40.0), ("max_roll", 180.0)):
            value = getattr(self, name)
            if not 0 <= value <= limit:
                raise ValueError(f"Variation.{name} must be within [0, {limit}], got {value}")
        low, high = self.face_fraction
        if not 0.1 <= low <= high <= 0.95:
            raise ValueError(
                f"Variation.face_fraction must satisfy 0.1 <= low <= high <= 0.95, got {low, high}"
            )
        for name in ("identity", "expression", "degradation"):
            value = getattr(self, name)
            if not 0 <= value <= 2:
                raise ValueError(f"Variation.{name} must be within [0, 2], got {value}")
        if not 0 <= self.occlusion_rate <= 1:
            raise ValueError(
                f"Variation.occlusion_rate must be within [0, 1], got {self.occlusion_rate}"
            )


DEFAULT_VARIATION = Variation()
FRONTAL_MEAN = Variation(
    max_yaw=0.0,
    max_pitch=0.0,
    max_roll=0.0,
    face_fraction=(0.6, 0.6),
    identity=0.0,
    expression=0.0,
    occlusion_rate=0.0,
    clutter=False,
    degradation=0.0,
)


@dataclass(frozen=True)
class SyntheticFace:
    """One rendered face and what was used to draw it.

    Attributes:
        image: RGB uint8 (size, size, 3).
        points: (68, 2) landmarks, 0-based pixel centres, ``FACE_68`` order.
        visible: (68,) False where an occluder covers the point or the head hides it.
        face_mask: uint8 coverage of the skin outline (jaw contour and hairline).
        occluder_mask: uint8 coverage of the occluder (all 0 without one).
        pose: the head pose.
        scale: pixels per model unit (the eye-centre distance of the mean face, unturned).
    """

    image: np.ndarray
    points: np.ndarray
    visible: np.ndarray
    face_mask: np.ndarray
    occluder_mask: np.ndarray
    pose: Pose
    scale: float


def _placement(
    landmarks: np.ndarray, size: int, fraction: float, rng: np.random.Generator
) -> tuple[float, np.ndarray]:
    """Scale and offset that make the landmark box ``fraction`` of the image (at most what fits
    inside a 2-pixel margin), placed at random."""
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    margin = 2.0
    scale = min(fraction * size, size - 1 - 2 * margin) / float(np.max(high - low))
    span = (high - low) * scale
    room = np.maximum(size - 1 - 2 * margin - span, 0.0)
    corner = margin + rng.uniform(0.0, 1.0, size=2) * room
    return scale, corner - low * scale


def draw_synthetic_face(
    rng: np.random.Generator, size: int = 256, variation: Variation = DEFAULT_VARIATION
) -> SyntheticFace:
    """Render one random face with ``rng``; see ``SyntheticFace``."""
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    identity = sample_identity(rng, variation.identity)
    expression = sample_expression(rng, variation.expression)
    face3d = apply_expression(identity, expression)
    pose = sample_pose(rng, variation.max_yaw, variation.max_pitch, variation.max_roll)
    style = sample_head_style(rng)
    parts = build_head(face3d, style, pose)
    hidden = self_occluded(parts, pose)

    view, roll = pose.view_rotation(), pose.roll_matrix()
    flat = (parts.landmarks @ view.T)[:, :2] @ roll.T
    scale, offset = _placement(flat, size, float(rng.uniform(*variation.face_fraction)), rng)
    linear = roll * scale
    pixels = parts.map(lambda p: (p @ view.T)[..., :2] @ linear.T + offset)
    inverse = np.linalg.inv(linear)
    to_model = np.concatenate([inverse, (-inverse @ offset)[:, None]], axis=1)

    palette = sample_palette(rng)
    if variation.clutter:
        image = draw_background(rng, size)
    else:
        image = np.full((size, size, 3), 128, np.uint8)
    draw_body(image, pixels, palette, style.hair_length > 0, rng, scale)

    # The face layer only needs the box around the skin outline.
    box, face, local, shade = draw_face_box(
        size, pixels, palette, scale, hidden, pose.yaw, to_model, view, rng, expression.smile
    )
    coverage = coverage_mask(local.face_outline, *face.shape[:2])
    alpha = coverage.astype(np.float32)
    alpha *= 1.0 / 255
    region = image[box].astype(np.float32)
    lit = face.astype(np.float32)
    lit *= shade[..., None]
    lit -= region
    lit *= alpha[..., None]
    lit += region
    np.clip(lit, 0, 255, out=lit)
    image[box] = lit
    face_mask = np.zeros((size, size), np.uint8)
    face_mask[box] = coverage

    occluder = np.zeros((size, size), np.uint8)
    if rng.random() < variation.occlusion_rate:
        skins = [tuple(int(v) for v in random_skin(rng)) for _ in range(2)]
        occluder = draw_occluder(rng, image, pixels.landmarks, scale, skins)
    image = degrade(rng, image, variation.degradation)

    points = pixels.landmarks
    cells = np.clip(np.round(points).astype(int), 0, size - 1)
    covered = occluder[cells[:, 1], cells[:, 0]] >= 128
    return SyntheticFace(
        image=image,
        points=points,
        visible=~(hidden | covered),
        face_mask=face_mask,
        occluder_mask=occluder,
        pose=pose,
        scale=scale,
    )


def render_face(
    rng: np.random.Generator, size: int = 256, variation: Variation = DEFAULT_VARIATION
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One random face: image RGB uint8 (size, size, 3), points (68, 2), visible (68,) bool."""
    face = draw_synthetic_face(rng, size, variation)
    return face.image, face.points, face.visible


def synthetic_face(
    index: int, seed: int = 0, size: int = 256, variation: Variation = DEFAULT_VARIATION
) -> Sample:
    """Face ``index`` of the set ``seed`` as a ``Sample`` (independent of every other index)."""
    if index < 0 or seed < 0:
        raise ValueError(f"index and seed must be non-negative, got index={index}, seed={seed}")
    rng = np.random.default_rng([seed, index])
    image, points, visible = render_face(rng, size, variation)
    return Sample(
        points=points,
        scheme=FACE_68,
        image=image,
        visible=visible,
        subset="synthetic",
        source=f"synthetic(seed={seed}, index={index}, size={size})",
    )


def synthetic_faces(
    count: int,
    seed: int = 0,
    size: int = 256,
    variation: Variation = DEFAULT_VARIATION,
    start: int = 0,
) -> list[Sample]:
    """``count`` rendered faces (indices ``start``..``start + count - 1`` of the set ``seed``).

    Deterministic: the same arguments give byte-identical images and points.
    """
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}")
    return [synthetic_face(start + i, seed, size, variation) for i in range(count)]


CROSS_DOMAIN_SEED = 7
"""Seed of the cross-domain set: not a seed that training on synthetic faces uses (0, 1, ...
for training, 10,000 + seed for validation)."""
CROSS_DOMAIN_COUNT = 200


def cross_domain_faces(count: int = CROSS_DOMAIN_COUNT, size: int = 256) -> list[Sample]:
    """The rendered faces a model trained on real photos is scored on as an unseen domain
    (``heatmark robustness --data synthetic``, the study grid's ``synthetic-faces`` protocol)."""
    return synthetic_faces(count, seed=CROSS_DOMAIN_SEED, size=size)


__all__ = [
    "CROSS_DOMAIN_COUNT",
    "CROSS_DOMAIN_SEED",
    "DEFAULT_VARIATION",
    "FRONTAL_MEAN",
    "SyntheticFace",
    "Variation",
    "cross_domain_faces",
    "draw_synthetic_face",
    "render_face",
    "synthetic_face",
    "synthetic_faces",
]
