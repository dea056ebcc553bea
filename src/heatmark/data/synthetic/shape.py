"""The 3D 68-point face of the synthetic set: mean shape, identity, expression and pose.

Model units: the distance between the two eye centres is 1. Axes: x to the image right, y down,
z towards the camera; the nose tip is the origin of z. The points follow the iBUG 300-W markup
(``FACE_68``), "left"/"right" as seen in the image.

The x/y columns of ``MEAN_FACE`` are the mean of 177 near-frontal 300-W training shapes (AFW
and HELEN faces whose cheek contour is symmetric about the eyes' midpoint within 3%; each
normalised to its eye centres, the mean averaged with its mirror image so that the table is
exactly symmetric), with the inner lips closed onto one line. The depths are rounded
anthropometric estimates: the cheek contour about 1.2 units (75 mm) behind the nose tip, the
chin 0.65, the outer eye corners 0.6, the mouth corners 0.55.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heatmark.schemes import FACE_68

MEAN_FACE = np.array(
    [
        # jaw 0-16
        [-1.103, 0.023, -1.22],
        [-1.082, 0.319, -1.21],
        [-1.043, 0.608, -1.19],
        [-0.986, 0.887, -1.16],
        [-0.880, 1.147, -1.10],
        [-0.712, 1.374, -1.00],
        [-0.502, 1.557, -0.86],
        [-0.265, 1.699, -0.72],
        [0.000, 1.739, -0.66],
        [0.265, 1.699, -0.72],
        [0.502, 1.557, -0.86],
        [0.712, 1.374, -1.00],
        [0.880, 1.147, -1.10],
        [0.986, 0.887, -1.16],
        [1.043, 0.608, -1.19],
        [1.082, 0.319, -1.21],
        [1.103, 0.023, -1.22],
        # brows 17-21, 22-26 (upper edge)
        [-0.931, -0.180, -0.72],
        [-0.790, -0.312, -0.60],
        [-0.591, -0.357, -0.50],
        [-0.383, -0.334, -0.41],
        [-0.186, -0.268, -0.34],
        [0.186, -0.268, -0.34],
        [0.383, -0.334, -0.41],
        [0.591, -0.357, -0.50],
        [0.790, -0.312, -0.60],
        [0.931, -0.180, -0.72],
        # nose bridge 27-30, nose bottom 31-35
        [0.000, -0.040, -0.32],
        [0.000, 0.150, -0.22],
        [0.000, 0.336, -0.11],
        [0.000, 0.528, 0.00],
        [-0.232, 0.659, -0.30],
        [-0.119, 0.693, -0.23],
        [0.000, 0.724, -0.19],
        [0.119, 0.693, -0.23],
        [0.232, 0.659, -0.30],
        # left eye 36-41, right eye 42-47
        [-0.697, 0.001, -0.62],
        [-0.572, -0.068, -0.54],
        [-0.423, -0.066, -0.52],
        [-0.293, 0.030, -0.53],
        [-0.432, 0.052, -0.53],
        [-0.581, 0.050, -0.56],
        [0.293, 0.030, -0.53],
        [0.423, -0.066, -0.52],
        [0.572, -0.068, -0.54],
        [0.697, 0.001, -0.62],
        [0.581, 0.050, -0.56],
        [0.432, 0.052, -0.53],
        # outer lips 48-59
        [-0.433, 1.008, -0.55],
        [-0.274, 0.939, -0.37],
        [-0.112, 0.902, -0.27],
        [0.000, 0.929, -0.24],
        [0.112, 0.902, -0.27],
        [0.274, 0.939, -0.37],
        [0.433, 1.008, -0.55],
        [0.281, 1.163, -0.40],
        [0.121, 1.229, -0.30],
        [0.000, 1.240, -0.27],
        [-0.121, 1.229, -0.30],
        [-0.281, 1.163, -0.40],
        # inner lips 60-67 (closed: the lower line lies on the upper one)
        [-0.367, 1.020, -0.51],
        [-0.114, 1.042, -0.30],
        [0.000, 1.050, -0.28],
        [0.114, 1.042, -0.30],
        [0.367, 1.020, -0.51],
        [0.114, 1.042, -0.30],
        [0.000, 1.050, -0.28],
        [-0.114, 1.042, -0.30],
    ],
    dtype=np.float64,
)

JAW = np.arange(0, 17)
LEFT_BROW, RIGHT_BROW = np.arange(17, 22), np.arange(22, 27)
NOSE_BRIDGE, NOSE_BOTTOM = np.arange(27, 31), np.arange(31, 36)
LEFT_EYE, RIGHT_EYE = np.arange(36, 42), np.arange(42, 48)
OUTER_LIPS, INNER_LIPS = np.arange(48, 60), np.arange(60, 68)
UPPER_LIP_OUTER, LOWER_LIP_OUTER = np.arange(48, 55), np.array([54, 55, 56, 57, 58, 59, 48])
UPPER_INNER, LOWER_INNER = np.arange(60, 65), np.array([64, 65, 66, 67, 60])
# Upper-lid point -> the lower-lid point below it (eyes close along these pairs).
EYELID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))


def mirror(points: np.ndarray) -> np.ndarray:
    """The horizontally mirrored face: x negated, mirror pairs swapped (``FACE_68`` flip)."""
    flipped = points[list(FACE_68.flip_permutation)].copy()
    flipped[:, 0] = -flipped[:, 0]
    return flipped


@dataclass(frozen=True)
class Pose:
    """Head rotation in degrees: yaw > 0 turns the face to the image right, pitch > 0 tilts it
    up, roll > 0 turns it clockwise on screen."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0

    def view_rotation(self) -> np.ndarray:
        """Yaw then pitch (3x3): the rotation that decides what is seen; roll is in-plane."""
        a, b = np.deg2rad(self.yaw), np.deg2rad(self.pitch)
        yaw = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
        pitch = np.array(
            [[1.0, 0.0, 0.0], [0.0, np.cos(b), -np.sin(b)], [0.0, np.sin(b), np.cos(b)]]
        )
        return pitch @ yaw

    def roll_matrix(self) -> np.ndarray:
        """The in-plane rotation (2x2) applied to the projected points (y down, so clockwise)."""
        c = np.deg2rad(self.roll)
        return np.array([[np.cos(c), -np.sin(c)], [np.sin(c), np.cos(c)]])


def sample_pose(
    rng: np.random.Generator, max_yaw: float, max_pitch: float, max_roll: float
) -> Pose:
    """Half the faces uniform over the range, half concentrated near frontal (sd = range / 3)."""

    def angle(limit: float) -> float:
        if limit == 0:
            return 0.0
        if rng.random() < 0.5:
            return float(rng.uniform(-limit, limit))
        return float(np.clip(rng.normal(0.0, limit / 3.0), -limit, limit))

    return Pose(yaw=angle(max_yaw), pitch=angle(max_pitch), roll=angle(max_roll))


def sample_identity(rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A neutral face of a random person: the mean face with part-wise and per-point changes.

    ``strength`` scales every change; 0 returns the mean face. The changes: face width and
    lower-face length, jaw roundness and chin length, eye spacing, size, height and tilt, brow
    height and arch, nose length, width and depth, mouth width, height and lip thickness, overall
    depth, and small independent per-point offsets.
    """
    face = MEAN_FACE.copy()
    if strength == 0:
        return face

    def u(low: float, high: float) -> float:
        return float(rng.uniform(low, high)) * strength

    x, y, z = face[:, 0], face[:, 1], face[:, 2]  # views: edits write into ``face``
    x[JAW] *= 1.0 + u(-0.10, 0.10)
    lower = y > 0.2
    y[lower] = 0.2 + (y[lower] - 0.2) * (1.0 + u(-0.08, 0.12))
    lower_jaw = JAW[4:13]
    x[lower_jaw] *= 1.0 + u(-0.08, 0.06)
    chin_weight = np.clip(1.0 - np.abs(np.arange(-4, 5)) / 4.5, 0.0, 1.0)
    y[lower_jaw] += chin_weight * u(-0.05, 0.08)

    for eye, side in ((LEFT_EYE, -1.0), (RIGHT_EYE, 1.0)):
        centre = face[eye].mean(axis=0)
        offset = face[eye] - centre
        offset[:, 0] *= 1.0 + u(-0.10, 0.12)
        offset[:, 1] *= 1.0 + u(-0.25, 0.30)
        tilt = np.deg2rad(u(-6.0, 6.0)) * side
        c, s = np.cos(tilt), np.sin(tilt)
        offset[:, :2] = offset[:, :2] @ np.array([[c, s], [-s, c]])
        face[eye] = centre + offset
    spacing = u(-0.05, 0.05)
    x[LEFT_EYE] -= spacing
    x[RIGHT_EYE] += spacing

    brows = np.concatenate([LEFT_BROW, RIGHT_BROW])
    y[brows] += u(-0.07, 0.03)
    arch = u(-0.02, 0.05)
    y[[18, 19, 24, 25]] -= arch * np.array([0.7, 1.0, 1.0, 0.7])

    nose_drop = u(-0.07, 0.08)
    y[NOSE_BOTTOM] += nose_drop
    y[[28, 29, 30]] += nose_drop * np.array([0.33, 0.66, 1.0])
    x[NOSE_BOTTOM] *= 1.0 + u(-0.12, 0.25)
    z[np.concatenate([NOSE_BRIDGE, NOSE_BOTTOM])] *= 1.0 + u(-0.2, 0.2)

    mouth = np.concatenate([OUTER_LIPS, INNER_LIPS])
    x[mouth] *= 1.0 + u(-0.12, 0.15)
    y[mouth] += u(-0.05, 0.05)
    y[[49, 50, 51, 52, 53]] -= u(-0.02, 0.04)
    y[[55, 56, 57, 58, 59]] += u(-0.03, 0.05)

    z *= 1.0 + u(-0.12, 0.12)
    face[:, :2] += rng.normal(0.0, 0.012 * strength, size=(68, 2))
    face[:, 2] += rng.normal(0.0, 0.02 * strength, size=68)

    # The temples stay outside the brow tails and the eye corners, however the parts moved.
    needed = max(abs(x[17]), abs(x[26]), abs(x[36]) + 0.25, abs(x[45]) + 0.25) + 0.12
    narrowest = min(-x[0], x[16])
    if narrowest < needed:
        x[JAW] *= needed / narrowest
    return face


@dataclass(frozen=True)
class Expression:
    """Amounts in model units (mouth opening, smile) or fractions (eye closure).

    ``eye_closure`` and ``brow_raise`` are (left, right); a negative brow raise is a frown.
    """

    mouth_open: float = 0.0
    smile: float = 0.0
    eye_closure: tuple[float, float] = (0.0, 0.0)
    brow_raise: tuple[float, float] = (0.0, 0.0)


def sample_expression(rng: np.random.Generator, strength: float = 1.0) -> Expression:
    """A random expression; ``strength`` 0 is neutral. About half the mouths are open."""
    if strength == 0:
        return Expression()
    mouth_open = float(rng.uniform(0.03, 0.45)) if rng.random() < 0.45 else 0.0
    smile = float(rng.uniform(0.0, 1.0)) if rng.random() < 0.4 else 0.0
    closure = (0.0, 0.0)
    if rng.random() < 0.3:
        both = rng.uniform(0.1, 0.8)
        closure = tuple(float(np.clip(both + rng.normal(0.0, 0.08), 0.0, 0.85)) for _ in range(2))
    raise_ = (0.0, 0.0)
    if rng.random() < 0.4:
        both = rng.uniform(-0.05, 0.13)
        raise_ = tuple(float(both + rng.normal(0.0, 0.015)) for _ in range(2))
    return Expression(
        mouth_open=mouth_open * strength,
        smile=smile * strength,
        eye_closure=(closure[0] * strength, closure[1] * strength),
        brow_raise=(raise_[0] * strength, raise_[1] * strength),
    )


def apply_expression(face: np.ndarray, expression: Expression) -> np.ndarray:
    """Move the points of a neutral face (68, 3) by ``expression``; returns a new array."""
    face = face.copy()
    x, y, z = face[:, 0], face[:, 1], face[:, 2]

    gap = expression.mouth_open
    if gap > 0:
        y[[65, 66, 67]] += gap
        y[[55, 56, 57, 58, 59]] += 0.95 * gap
        y[[48, 54]] += 0.35 * gap
        y[[60, 64]] += 0.40 * gap
        centre = x[[48, 54]].mean()
        x[np.concatenate([OUTER_LIPS, INNER_LIPS])] = centre + (
            x[np.concatenate([OUTER_LIPS, INNER_LIPS])] - centre
        ) * (1.0 - 0.15 * gap)
        drop = np.array([0, 0, 0.05, 0.15, 0.35, 0.6, 0.8, 0.95, 1.0])
        y[JAW] += gap * np.concatenate([drop, drop[-2::-1]])

    smile = expression.smile
    if smile > 0:
        for corner, inner, side in ((48, 60, -1.0), (54, 64, 1.0)):
            x[[corner, inner]] += side * 0.10 * smile
            y[[corner, inner]] -= 0.08 * smile
            z[[corner, inner]] -= 0.04 * smile
        y[[49, 53]] -= 0.03 * smile
        y[[55, 59]] -= 0.02 * smile
        y[[61, 63, 65, 67]] -= 0.015 * smile
        x[[3, 4]] -= 0.02 * smile
        x[[12, 13]] += 0.02 * smile
        y[[40, 41, 46, 47]] -= 0.02 * smile

    for pairs, closure in (
        (EYELID_PAIRS[:2], expression.eye_closure[0]),
        (EYELID_PAIRS[2:], expression.eye_closure[1]),
    ):
        for upper, lower in pairs:
            face[upper] += closure * (face[lower] - face[upper])

    lifts = expression.brow_raise
    for brow, lift in ((LEFT_BROW, lifts[0]), (RIGHT_BROW, lifts[1])):
        y[brow] -= lift
        if lift < 0:  # frown: the inner ends come further down and together
            inner = brow[-1] if brow[0] == 17 else brow[0]
            y[inner] -= 0.5 * lift
            x[inner] += 0.5 * lift * np.sign(x[inner])
    return face
