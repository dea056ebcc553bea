"""The parts around the 68 points that make a drawable head, and what the pose hides.

Everything is built in the model frame of ``shape`` (eye-centre distance 1, y down, z towards
the camera) from the posed 68 points, so hair, ears, irises and nostrils follow identity and
expression. The cheek contour is a silhouette, not a fixed set of skin points: each contour
point lives on a horizontal elliptic ring of the head (its frontal position is the ring's widest
point) and slides along that ring to where the ring's projection is widest, which is where
300-W annotators put it on a turned face. The forehead line above the contour is a fixed
hairline on the skin, clipped to the same silhouette.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache

import numpy as np
from numpy.typing import ArrayLike

from heatmark.data.synthetic.shape import JAW, Pose

# How far each contour point slides to the silhouette (1 = fully); the chin stays put because
# the lower jaw line is an edge of the bone rather than a smooth turn of the skin.
CONTOUR_SLIDE = np.array([1, 1, 1, 1, 0.9, 0.7, 0.45, 0.2, 0, 0.2, 0.45, 0.7, 0.9, 1, 1, 1, 1.0])

# Depth of the front of the face (without the nose) at height y: forehead, brows, cheeks,
# lips, chin. Rings pass through this front point at x = 0.
_FRONT_Y = np.array([-2.0, -1.2, -0.6, -0.3, 0.0, 0.3, 0.6, 1.0, 1.3, 1.7, 2.2])
_FRONT_Z = np.array([-1.2, -0.55, -0.38, -0.30, -0.33, -0.33, -0.30, -0.26, -0.30, -0.60, -1.0])

_UPPER_OUTLINE_POINTS = 15


@dataclass(frozen=True)
class HeadStyle:
    """Per-person shape choices that the 68 points do not fix (model units unless noted)."""

    forehead_height: float  # hairline height above the top of the cheek contour
    hair_volume: float  # how far hair stands off the skull
    hair_length: float  # how far long hair falls below the top of the contour (0: short)
    fringe_bottom: float  # y of the lower edge of a fringe; nan for none
    ear_size: float
    neck_width: float
    brow_thickness: float
    gaze: tuple[float, float]  # eye rotation (yaw, pitch) in degrees
    iris_radius: float
    pupil_ratio: float


def sample_head_style(rng: np.random.Generator) -> HeadStyle:
    """A random hair cut, ear and neck size, brow thickness and gaze."""
    fringe = float(rng.uniform(-1.0, -0.55)) if rng.random() < 0.2 else float("nan")
    return HeadStyle(
        forehead_height=float(rng.uniform(1.1, 1.5)),
        hair_volume=float(rng.uniform(0.02, 0.3)),
        hair_length=float(rng.uniform(0.6, 3.0)) if rng.random() < 0.35 else 0.0,
        fringe_bottom=fringe,
        ear_size=float(rng.uniform(0.85, 1.15)),
        neck_width=float(rng.uniform(0.85, 1.15)),
        brow_thickness=float(rng.uniform(0.7, 1.4)),
        gaze=(float(rng.normal(0.0, 10.0)), float(rng.normal(0.0, 6.0))),
        iris_radius=float(rng.uniform(0.085, 0.105)),
        pupil_ratio=float(rng.uniform(0.3, 0.5)),
    )


@dataclass(frozen=True)
class HeadParts:
    """Point sets of one head, all (..., 3) in the model frame or (..., 2) once projected.

    ``face_outline`` is the closed skin outline: jaw 0..16, then the hairline from right to
    left. ``skull``, ``torso`` and ``nose_cover`` are point clouds whose projected convex hull is
    drawn; the rest are polygons in drawing order. ``nose_cover`` is the near half of the nose,
    which hides whatever of the far side falls behind it.
    """

    landmarks: np.ndarray
    face_outline: np.ndarray
    skull: np.ndarray
    neck: np.ndarray
    torso: np.ndarray
    ears: np.ndarray
    fringe: np.ndarray
    brows: np.ndarray
    irises: np.ndarray
    pupils: np.ndarray
    nose_cover: np.ndarray
    nostrils: np.ndarray
    alae: np.ndarray

    def map(self, function: Callable[[np.ndarray], np.ndarray]) -> HeadParts:
        """A copy with ``function`` applied to every point set."""
        return HeadParts(**{f.name: function(getattr(self, f.name)) for f in fields(self)})


def _front_depth(y: np.ndarray) -> np.ndarray:
    return np.interp(y, _FRONT_Y, _FRONT_Z)


def _ring(
    half_width: ArrayLike,
    height: ArrayLike,
    centre_depth: ArrayLike,
    front_depth: ArrayLike,
    angle: ArrayLike,
) -> np.ndarray:
    """Points (n, 3) at ``angle`` (0 = front, +90 deg = right) on horizontal elliptic rings."""
    return np.stack(
        np.broadcast_arrays(
            half_width * np.sin(angle), height, centre_depth + front_depth * np.cos(angle)
        ),
        axis=-1,
    )


def _silhouette_angles(
    half_width: ArrayLike, front_depth: ArrayLike, view: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ring angles whose projection is leftmost and rightmost under ``view``.

    The projected x of a ring point is ``v00 * w * sin(a) + v02 * d * cos(a) + const``; it is
    largest where (sin a, cos a) points along (v00 * w, v02 * d).
    """
    a, c = view[0, 0] * half_width, view[0, 2] * front_depth
    return np.arctan2(-a, -c), np.arctan2(a, c)


def _slide_contour(face: np.ndarray, view: np.ndarray) -> np.ndarray:
    """The 17 cheek-contour points moved onto the silhouette of their rings."""
    jaw = face[JAW]
    half_width = np.maximum(np.abs(jaw[:, 0]), 1e-3)
    depth = np.maximum(_front_depth(jaw[:, 1]) - jaw[:, 2], 0.12)
    left, right = _silhouette_angles(half_width, depth, view)
    side = np.where(np.arange(17) < 8, -1.0, 1.0)
    frontal = side * np.pi / 2
    target = np.where(side < 0, left, right)
    angle = frontal + CONTOUR_SLIDE * (target - frontal)
    moved = _ring(half_width, jaw[:, 1], jaw[:, 2], depth, angle)
    moved[8] = jaw[8]
    return moved


_BROWS_AND_EYES = np.r_[17:27, 36:48]
_STANDING_OUT = np.r_[0:17, 27:36, 48:68]


def _inside_head(face: np.ndarray) -> np.ndarray:
    """The 68 points with the brows and eyes pushed back behind the head's rings.

    Random identity and expression changes can leave a brow tail or an eye corner standing
    off the side of the head, where it would poke out of the silhouette of a turned face.
    (The nose and lips stand in front of the rings by design.)
    """
    jaw = face[JAW]
    half_width = (np.abs(jaw[:9, 0]) + np.abs(jaw[16:7:-1, 0])) / 2
    height = (jaw[:9, 1] + jaw[16:7:-1, 1]) / 2
    centre_depth = (jaw[:9, 2] + jaw[16:7:-1, 2]) / 2
    rest = face[_BROWS_AND_EYES]
    ring_width = np.maximum(np.interp(rest[:, 1], height, half_width), 1e-3)
    ring_centre = np.interp(rest[:, 1], height, centre_depth)
    front = np.maximum(_front_depth(rest[:, 1]) - ring_centre, 0.12)
    across = np.clip(1.0 - (rest[:, 0] / ring_width) ** 2, 0.0, 1.0)
    surface = ring_centre + front * np.sqrt(across) - 0.06
    moved = face.copy()
    moved[_BROWS_AND_EYES, 2] = np.minimum(rest[:, 2], surface)
    return moved


def _upper_outline(face: np.ndarray, style: HeadStyle, view: np.ndarray) -> np.ndarray:
    """The hairline from the top of the right cheek contour over the forehead to the left."""
    top_left, top_right = face[0], face[16]
    centre_x = (top_left[0] + top_right[0]) / 2
    centre_y = (top_left[1] + top_right[1]) / 2
    half_width = (top_right[0] - top_left[0]) / 2
    centre_depth = (top_left[2] + top_right[2]) / 2
    alpha = np.linspace(0.0, np.pi, _UPPER_OUTLINE_POINTS + 2)[1:-1]
    squareness = 0.7
    cos_a, sin_a = np.cos(alpha), np.sin(alpha)
    x = centre_x + half_width * np.sign(cos_a) * np.abs(cos_a) ** squareness
    y = centre_y - style.forehead_height * sin_a**squareness
    depth = np.maximum(_front_depth(y) - centre_depth, 0.12)
    frontal = np.arcsin(np.clip((x - centre_x) / half_width, -1.0, 1.0))
    left, right = _silhouette_angles(half_width, depth, view)
    # At the temples the outline is a silhouette too; across the forehead it is the hairline.
    slide = np.clip((np.abs(frontal) - np.deg2rad(50)) / np.deg2rad(30), 0.0, 1.0)
    side_angle = np.where(x > centre_x, np.pi / 2, -np.pi / 2)
    target = np.where(x > centre_x, right, left)
    angle = np.clip(frontal + slide * (target - side_angle), left, right)
    points = _ring(half_width, y, centre_depth, depth, angle)
    points[:, 0] += centre_x
    return points


@cache
def _unit_sphere(rows: int, columns: int) -> np.ndarray:
    polar = np.linspace(0.0, np.pi, rows)[:, None]
    azimuth = np.linspace(0.0, 2 * np.pi, columns, endpoint=False)[None, :]
    unit = np.stack(
        np.broadcast_arrays(
            np.sin(polar) * np.cos(azimuth), -np.cos(polar), np.sin(polar) * np.sin(azimuth)
        ),
        axis=-1,
    )
    return unit.reshape(-1, 3)


@cache
def _unit_circle(count: int) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, count, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _ellipsoid(
    centre: tuple[float, float, float], radii: tuple[float, float, float], rows: int, columns: int
) -> np.ndarray:
    """Surface samples (rows * columns, 3) of an axis-aligned ellipsoid."""
    return np.asarray(centre) + _unit_sphere(rows, columns) * np.asarray(radii)


def _circle(
    centre: np.ndarray,
    normal: np.ndarray,
    radii: tuple[float, float],
    count: int,
    up: np.ndarray | None = None,
) -> np.ndarray:
    """A 3D ellipse (count, 3) around ``centre`` in the plane normal to ``normal``; its first
    axis points along ``up`` (made perpendicular to ``normal``), default the y axis."""
    n0, n1, n2 = (normal / np.linalg.norm(normal)).tolist()
    u0, u1, u2 = (0.0, 1.0, 0.0) if up is None else up.tolist()
    dot = u0 * n0 + u1 * n1 + u2 * n2
    f0, f1, f2 = u0 - n0 * dot, u1 - n1 * dot, u2 - n2 * dot
    length = (f0 * f0 + f1 * f1 + f2 * f2) ** 0.5
    f0, f1, f2 = f0 / length, f1 / length, f2 / length
    axes = np.array(
        [
            [radii[0] * f0, radii[0] * f1, radii[0] * f2],
            [
                radii[1] * (n1 * f2 - n2 * f1),
                radii[1] * (n2 * f0 - n0 * f2),
                radii[1] * (n0 * f1 - n1 * f0),
            ],
        ]
    )
    return centre + _unit_circle(count) @ axes


@dataclass(frozen=True)
class _Frame:
    """Where the head sits relative to the face: top of the cheek contour and its half-width."""

    top_y: float
    top_depth: float
    half_width: float


def _hair(frame: _Frame, style: HeadStyle) -> np.ndarray:
    """Skull samples, plus the curtain of long hair; their projected hull is the hair."""
    volume = style.hair_volume
    skull = _ellipsoid(
        (0.0, frame.top_y - 0.5, frame.top_depth - 0.5),
        (frame.half_width + 0.07 + volume, style.forehead_height + 0.25 + volume, 1.25 + volume),
        7,
        14,
    )
    if style.hair_length == 0:
        return skull
    fall = np.array(
        [
            [
                side * (frame.half_width + 0.05 + volume) * taper,
                frame.top_y + style.hair_length * level,
                depth,
            ]
            for side in (-1.0, 1.0)
            for level, taper in ((0.3, 1.0), (0.7, 0.95), (1.0, 0.85))
            for depth in (frame.top_depth + 0.4, frame.top_depth - 1.2)
        ]
    )
    return np.concatenate([skull, fall])


def _neck(frame: _Frame, style: HeadStyle, view: np.ndarray) -> np.ndarray:
    """The neck's outline: a vertical elliptic cylinder cut along its silhouette."""
    half_width = 0.62 * style.neck_width * frame.half_width / 1.1
    heights = np.linspace(1.0, 4.5, 6)
    depth = np.full_like(heights, 0.6)
    left, right = _silhouette_angles(half_width, depth, view)
    centre = frame.top_depth - 0.1
    return np.concatenate(
        [
            _ring(half_width, heights, centre, depth, left),
            _ring(half_width, heights, centre, depth, right)[::-1],
        ]
    )


def _ears(frame: _Frame, style: HeadStyle) -> np.ndarray:
    """Two ellipses (2, 12, 3) beside the top of the contour, facing out and a little forward."""
    tilt = np.deg2rad(40)
    return np.stack(
        [
            _circle(
                np.array(
                    [side * (frame.half_width + 0.03), frame.top_y + 0.32, frame.top_depth - 0.3]
                ),
                np.array([side * np.cos(tilt), 0.0, np.sin(tilt)]),
                (0.45 * style.ear_size, 0.24 * style.ear_size),
                12,
            )
            for side in (-1.0, 1.0)
        ]
    )


def _fringe(frame: _Frame, style: HeadStyle, hairline: np.ndarray) -> np.ndarray:
    """Hair hanging over the forehead down to ``style.fringe_bottom``; empty when there is none."""
    if not np.isfinite(style.fringe_bottom):
        return np.zeros((0, 3))
    above = hairline[hairline[:, 1] < style.fringe_bottom]
    if len(above) == 0:
        return np.zeros((0, 3))
    x = np.linspace(1.05, -1.05, 9) * frame.half_width
    y = np.full_like(x, style.fringe_bottom)
    y[1:-1] += 0.05 * np.sin(np.arange(1, 8) * 2.3)  # a ragged edge
    depth = _front_depth(y) - 0.15 * (x / frame.half_width) ** 2
    return np.concatenate([above, np.stack([x, y, depth], axis=-1)])


def _brows(face: np.ndarray, style: HeadStyle) -> np.ndarray:
    """Brow polygons (2, 10, 3): the labelled upper edge, outer end first, and a lower edge."""
    profile = np.array([0.03, 0.075, 0.095, 0.105, 0.11]) * style.brow_thickness
    brows = []
    for indices in (np.arange(17, 22), np.arange(26, 21, -1)):
        upper_edge = face[indices]
        lower_edge = upper_edge + profile[:, None] * np.array([0.0, 1.0, 0.05])
        brows.append(np.concatenate([upper_edge, lower_edge[::-1]]))
    return np.stack(brows)


def _irises(face: np.ndarray, style: HeadStyle) -> tuple[np.ndarray, np.ndarray]:
    """Iris and pupil circles (2, n, 3) on eyeballs behind the eye corners, turned by the gaze.

    They hang on the corners, not the lids, so closing an eye covers them instead of moving them.
    """
    gaze_yaw, gaze_pitch = np.deg2rad(style.gaze)
    gaze = np.array([np.sin(gaze_yaw), -np.sin(gaze_pitch), np.cos(gaze_yaw) * np.cos(gaze_pitch)])
    irises, pupils = [], []
    pupil_radius = style.iris_radius * style.pupil_ratio
    for outer, inner in ((36, 39), (45, 42)):
        middle = (face[outer] + face[inner]) / 2 + np.array([0.0, -0.005, 0.04])
        centre = middle + 0.18 * (gaze - np.array([0.0, 0.0, 1.0]))
        irises.append(_circle(centre, gaze, (style.iris_radius, style.iris_radius), 16))
        pupils.append(_circle(centre + 0.005 * gaze, gaze, (pupil_radius, pupil_radius), 12))
    return np.stack(irises), np.stack(pupils)


def _nose(face: np.ndarray, pose: Pose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The near half of the nose (cover points), nostrils (2, 10, 3) and alar creases (2, 4, 3)."""
    base = [
        [side * width, face[index, 1], -0.45]
        for index, width in ((27, 0.13), (28, 0.15), (29, 0.18))
        for side in (-1.0, 1.0)
    ]
    base += [
        [face[31, 0] - 0.04, face[31, 1] - 0.1, face[31, 2] - 0.08],
        [face[35, 0] + 0.04, face[35, 1] - 0.1, face[35, 2] - 0.08],
    ]
    base = np.array(base)
    near_side = -1.0 if pose.yaw > 0 else 1.0
    cover = np.concatenate(
        [
            face[[27, 28, 29, 30, 33]],
            face[[32, 31] if near_side < 0 else [34, 35]],
            base[np.sign(base[:, 0]) == near_side],
            [face[30] + np.array([0.0, 0.09, -0.06])],
        ]
    )
    nostrils = np.stack(
        [
            _circle(
                0.45 * face[outer] + 0.55 * face[inner] + np.array([0.0, -0.03, -0.04]),
                np.array([0.0, 1.0, 0.6]),
                (0.075, 0.035),
                10,
                up=face[outer] - face[inner],
            )
            for outer, inner in ((31, 32), (35, 34))
        ]
    )
    crease = np.array([[0, 0, 0], [-0.035, -0.06, -0.02], [-0.02, -0.13, 0.0], [0.03, -0.17, 0.03]])
    alae = np.stack([face[31] + crease, face[35] + crease * [-1.0, 1.0, 1.0]])
    return cover, nostrils, alae


def build_head(face: np.ndarray, style: HeadStyle, pose: Pose) -> HeadParts:
    """All drawable parts of the head with the posed 68 points ``face`` (68, 3), model frame."""
    view = pose.view_rotation()
    face = _inside_head(face)
    landmarks = face.copy()
    landmarks[JAW] = _slide_contour(face, view)
    hairline = _upper_outline(face, style, view)
    frame = _Frame(
        top_y=(face[0, 1] + face[16, 1]) / 2,
        top_depth=(face[0, 2] + face[16, 2]) / 2,
        half_width=(face[16, 0] - face[0, 0]) / 2,
    )
    irises, pupils = _irises(face, style)
    nose_cover, nostrils, alae = _nose(face, pose)
    return HeadParts(
        landmarks=landmarks,
        face_outline=np.concatenate([landmarks[JAW], hairline]),
        skull=_hair(frame, style),
        neck=_neck(frame, style, view),
        torso=_ellipsoid((0.0, 4.0, frame.top_depth - 0.3), (2.5, 1.35, 1.0), 7, 20),
        ears=_ears(frame, style),
        fringe=_fringe(frame, style, hairline),
        brows=_brows(face, style),
        irises=irises,
        pupils=pupils,
        nose_cover=nose_cover,
        nostrils=nostrils,
        alae=alae,
    )


def _inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd test of (n, 2) points against a closed polygon (m, 2)."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return ((crosses & (x < at)).sum(axis=1) % 2).astype(bool)


def self_occluded(parts: HeadParts, pose: Pose) -> np.ndarray:
    """(68,) True for points the head itself hides: an eye or brow point beyond the cheek's
    silhouette, or any far-side point that projects behind the nose ridge.

    ``parts`` is in the model frame. Contour points are on the silhouette and stay visible.
    """
    view = pose.view_rotation()
    seen = parts.landmarks @ view.T
    outline = parts.face_outline @ view.T
    hidden = ~_inside_polygon(seen[:, :2], outline[:, :2])
    hidden[_STANDING_OUT] = False  # the contour is the silhouette; nose and lips stand in front

    far = 1.0 if pose.yaw > 0 else -1.0
    ridge = seen[[27, 28, 29, 30, 33]]
    order = np.argsort(ridge[:, 1])
    ridge_x = np.interp(seen[:, 1], ridge[order, 1], ridge[order, 0])
    within = (seen[:, 1] >= ridge[:, 1].min()) & (seen[:, 1] <= ridge[:, 1].max())
    far_side = parts.landmarks[:, 0] * far > 0.02
    behind_nose = within & far_side & ((seen[:, 0] - ridge_x) * far < 0)
    behind_nose[[27, 28, 29, 30, 33]] = False
    behind_nose[JAW] = False
    return hidden | behind_nose
