"""A synthetic video: one rendered person who moves and turns smoothly, with exact 68 points in
every frame, so the sequence robustness protocols (``blur-medium``, ``blur-large``) and anything
else that needs frames can run with nothing downloaded.

The person is drawn by the same 3D renderer as ``synthetic_faces`` (``shape``, ``head``,
``render``), not warped from one still: identity, expression, hair style, palette and the
background are drawn once per sequence, and only the head pose (a smooth yaw and roll, a fixed
small pitch) and the head's position (a smooth translation) change from frame to frame, so
turning the head really shows its other side and the points follow the drawing exactly. The
random choices the renderer makes while drawing (hair locks, neck shade, shading blotches) use
the same seeded generator in every frame, so they stay put on the person. There are no
occluders and no camera damage (the robustness protocols add their own).

Motion is at a fixed speed per frame, independent of ``frames``: each angle and each axis of
the translation is a sinusoid with a period of 40 to 90 frames (random phase), so consecutive
frames differ by a few degrees and a few pixels at most, as in a 25-30 fps video.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heatmark.data.sample import Sample
from heatmark.data.synthetic.clutter import draw_background
from heatmark.data.synthetic.head import (
    HeadParts,
    HeadStyle,
    build_head,
    sample_head_style,
    self_occluded,
)
from heatmark.data.synthetic.render import (
    Palette,
    coverage_mask,
    draw_body,
    draw_face_box,
    sample_palette,
)
from heatmark.data.synthetic.shape import (
    Pose,
    apply_expression,
    sample_expression,
    sample_identity,
)
from heatmark.schemes import FACE_68

SEQUENCE_SUBSET = "synthetic-sequence"
MAX_YAW = 30.0  # degrees, amplitude of the yaw sinusoid
MAX_ROLL = 15.0  # degrees, amplitude of the roll sinusoid
FACE_FRACTION = 0.45  # the largest landmark box over the sequence, as a fraction of the side
TRAVEL = 0.8  # fraction of the free room the head's centre travels (each side)
PERIODS = (40.0, 90.0)  # frames per period of each motion sinusoid
MARGIN = 2.0  # pixels every point keeps from the image border


def sequence_path(seed: int) -> Path:
    """The pseudo video file all frames of sequence ``seed`` name (never read: the frames
    embed their pixels); ``sequence_positions`` groups frames by it."""
    return Path(f"synthetic/sequence{seed}.avi")


def _motion(rng: np.random.Generator, frames: int) -> np.ndarray:
    """(frames,) smooth unit-amplitude sinusoid with a random period and phase."""
    period = float(rng.uniform(*PERIODS))
    phase = float(rng.uniform(0.0, 2.0 * np.pi))
    return np.sin(2.0 * np.pi * np.arange(frames) / period + phase)


def synthetic_sequence(frames: int, seed: int = 0, size: int = 128) -> list[Sample]:
    """``frames`` frames of one synthetic person moving and turning (module docstring).

    Each ``Sample`` embeds its RGB image and has the exact 68 points, ``frame_index`` = t,
    ``image_path`` = ``sequence_path(seed)`` (shared, so the frames form one sequence),
    ``subset`` ``"synthetic-sequence"`` and ``source`` naming the frame. Deterministic: the
    same arguments give byte-identical frames, and the first frames do not depend on
    ``frames``.
    """
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels, got {size}")
    rng = np.random.default_rng([seed, 0x5E0])
    identity = sample_identity(rng)
    expression = sample_expression(rng)
    face3d = apply_expression(identity, expression)
    style = sample_head_style(rng)
    palette = sample_palette(rng)
    pitch = float(rng.uniform(-8.0, 8.0))
    yaw = MAX_YAW * _motion(rng, frames)
    roll = MAX_ROLL * _motion(rng, frames)
    travel = np.stack([_motion(rng, frames), _motion(rng, frames)], axis=1)
    background = draw_background(rng, size)

    poses = [Pose(yaw=float(y), pitch=pitch, roll=float(r)) for y, r in zip(yaw, roll, strict=True)]
    heads = [build_head(face3d, style, pose) for pose in poses]
    # One scale for the whole sequence and a centre path that keeps every frame's points MARGIN
    # pixels inside the image, both from the extent over the whole pose range (a grid of yaw x
    # roll), not over these frames, so the first frames do not depend on ``frames``.
    grid = [
        Pose(yaw=float(y), pitch=pitch, roll=float(r))
        for y in np.linspace(-MAX_YAW, MAX_YAW, 5)
        for r in np.linspace(-MAX_ROLL, MAX_ROLL, 5)
    ]
    reach = np.max([np.abs(_centred(build_head(face3d, style, g), g)).max(axis=0) for g in grid], 0)
    usable = size - 1 - 2 * MARGIN
    scale = min(FACE_FRACTION * size, usable) / float(2 * reach.max())
    room = np.maximum(usable / 2 - reach * scale * 1.05, 0.0)  # 5% for poses between the grid's
    centres = (size - 1) / 2 + travel * room * TRAVEL
    flats = [_centred(parts, pose) for pose, parts in zip(poses, heads, strict=True)]

    samples = []
    for t, (pose, parts, flat) in enumerate(zip(poses, heads, flats, strict=True)):
        image, points, visible = _draw_frame(
            parts, pose, flat, scale, centres[t], background, palette, style, expression.smile, seed
        )
        samples.append(
            Sample(
                points=points,
                scheme=FACE_68,
                image=image,
                image_path=sequence_path(seed),
                frame_index=t,
                visible=visible,
                subset=SEQUENCE_SUBSET,
                source=f"synthetic_sequence(seed={seed}, size={size}) frame {t}",
            )
        )
    return samples


def _centred(parts: HeadParts, pose: Pose) -> np.ndarray:
    """The posed, unscaled 2D landmarks minus the centre of their box."""
    flat = (parts.landmarks @ pose.view_rotation().T)[:, :2] @ pose.roll_matrix().T
    return flat - (flat.min(axis=0) + flat.max(axis=0)) / 2


def _draw_frame(
    parts: HeadParts,
    pose: Pose,
    flat: np.ndarray,
    scale: float,
    centre: np.ndarray,
    background: np.ndarray,
    palette: Palette,
    style: HeadStyle,
    smile: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame, as ``draw_synthetic_face`` draws a face (without occluder or damage)."""
    size = background.shape[0]
    rng = np.random.default_rng([seed, 0x5E1])  # the same drawing choices in every frame
    hidden = self_occluded(parts, pose)
    view, roll = pose.view_rotation(), pose.roll_matrix()
    raw = (parts.landmarks @ view.T)[:, :2] @ roll.T
    offset = centre - (raw[0] - flat[0]) * scale  # flat is raw minus its box centre
    linear = roll * scale
    pixels = parts.map(lambda p: (p @ view.T)[..., :2] @ linear.T + offset)
    inverse = np.linalg.inv(linear)
    to_model = np.concatenate([inverse, (-inverse @ offset)[:, None]], axis=1)

    image = background.copy()
    draw_body(image, pixels, palette, style.hair_length > 0, rng, scale)
    box, face, local, shade = draw_face_box(
        size, pixels, palette, scale, hidden, pose.yaw, to_model, view, rng, smile
    )
    alpha = coverage_mask(local.face_outline, *face.shape[:2]).astype(np.float32) / 255
    region = image[box].astype(np.float32)
    lit = face.astype(np.float32) * shade[..., None]
    lit = np.clip((lit - region) * alpha[..., None] + region, 0, 255)
    image[box] = lit.astype(np.uint8)
    return image, pixels.landmarks.copy(), ~hidden


__all__ = ["SEQUENCE_SUBSET", "sequence_path", "synthetic_sequence"]
