"""The synthetic face set: determinism, label geometry, exact edges, visibility, drawn features."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from heatmark.data.synthetic import (
    FRONTAL_MEAN,
    Variation,
    draw_synthetic_face,
    render_face,
    synthetic_face,
    synthetic_faces,
)
from heatmark.data.synthetic.head import build_head, sample_head_style, self_occluded
from heatmark.data.synthetic.render import coverage_mask, inset_polygon
from heatmark.data.synthetic.shape import MEAN_FACE, Pose, mirror
from heatmark.schemes import FACE_68

CLEAN = Variation(occlusion_rate=0.0, degradation=0.0)
NEAR_FRONTAL = Variation(
    max_yaw=10, max_pitch=10, max_roll=10, occlusion_rate=0.0, degradation=0.0, clutter=False
)


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples of a 2D float image at (n, 2) pixel-centre points."""
    xy = points.astype(np.float32)
    return cv2.remap(image.astype(np.float32), xy[:, :1].T, xy[:, 1:].T, cv2.INTER_LINEAR)[0]


def _edge_offset(mask: np.ndarray, point: np.ndarray, inward: np.ndarray) -> float:
    """Where the mask's edge crosses the line through ``point`` along the unit ``inward``
    normal, in pixels from ``point`` (positive: the drawn edge lies outside the true one)."""
    steps = np.linspace(-3.0, 3.0, 241)
    coverage = _sample(mask, point + steps[:, None] * inward) / 255.0
    return float(coverage.sum() * (steps[1] - steps[0]) - 3.0)


def test_same_seed_gives_byte_identical_faces_and_other_seeds_differ() -> None:
    first = synthetic_faces(4, seed=11, size=96)
    second = synthetic_faces(4, seed=11, size=96)
    other = synthetic_faces(4, seed=12, size=96)
    for a, b, c in zip(first, second, other, strict=True):
        assert a.image.tobytes() == b.image.tobytes()
        assert a.points.tobytes() == b.points.tobytes()
        assert np.array_equal(a.visible, b.visible)
        assert not np.array_equal(a.points, c.points)


def test_a_face_depends_only_on_seed_and_index() -> None:
    whole = synthetic_faces(5, seed=3, size=64)
    tail = synthetic_faces(2, seed=3, size=64, start=3)
    assert whole[3].image.tobytes() == tail[0].image.tobytes()
    assert np.array_equal(whole[4].points, tail[1].points)
    assert synthetic_face(4, seed=3, size=64).image.tobytes() == whole[4].image.tobytes()


def test_samples_have_the_documented_shapes_and_types() -> None:
    for sample in synthetic_faces(3, seed=0, size=80):
        assert sample.image.shape == (80, 80, 3) and sample.image.dtype == np.uint8
        assert sample.points.shape == (68, 2) and sample.points.dtype == np.float64
        assert sample.visible is not None and sample.visible.dtype == bool
        assert sample.visible.shape == (68,)
        assert sample.scheme is FACE_68
        assert sample.subset == "synthetic"
        assert "seed=0" in sample.source
    image, points, visible = render_face(np.random.default_rng(5), size=48)
    assert image.shape == (48, 48, 3) and points.shape == (68, 2) and visible.shape == (68,)


def test_points_lie_inside_the_image_and_the_face_has_the_asked_size() -> None:
    variation = Variation(face_fraction=(0.4, 0.7))
    for index in range(25):
        face = draw_synthetic_face(np.random.default_rng([1, index]), 128, variation)
        assert (face.points >= 0).all() and (face.points <= 127).all()
        side = (face.points.max(axis=0) - face.points.min(axis=0)).max()
        assert 0.4 * 128 - 1e-6 <= side <= 0.7 * 128 + 1e-6


def test_near_frontal_geometry_is_plausible() -> None:
    left_eye, right_eye = (list(group) for group in FACE_68.eye_centres)
    for index in range(40):
        points = draw_synthetic_face(np.random.default_rng([2, index]), 96, NEAR_FRONTAL).points
        left, right = points[left_eye].mean(axis=0), points[right_eye].mean(axis=0)
        assert left[0] < points[30, 0] < right[0]  # nose tip between the eyes
        assert points[36, 0] < points[39, 0] < points[42, 0] < points[45, 0]
        assert points[27, 1] < points[33, 1] < points[51, 1] < points[57, 1] < points[8, 1]
        inter_ocular = FACE_68.inter_ocular(points)
        assert 0.45 < inter_ocular / np.linalg.norm(points[0] - points[16]) < 0.8
        assert 0.4 < inter_ocular / (points.max(axis=0) - points.min(axis=0)).max() < 0.75


def test_mean_face_is_mirror_symmetric_in_3d_and_when_drawn() -> None:
    assert np.allclose(mirror(MEAN_FACE), MEAN_FACE, atol=1e-12)
    points = draw_synthetic_face(np.random.default_rng(0), 128, FRONTAL_MEAN).points
    axis = (points[27, 0] + points[8, 0]) / 2
    flipped = points[list(FACE_68.flip_permutation)].copy()
    flipped[:, 0] = 2 * axis - flipped[:, 0]
    assert np.abs(flipped - points).max() < 1e-6


def test_yaw_turns_the_nose_towards_the_turned_side() -> None:
    variation = Variation(max_pitch=0, max_roll=0, occlusion_rate=0.0, degradation=0.0)
    checked = 0
    for index in range(30):
        face = draw_synthetic_face(np.random.default_rng([4, index]), 96, variation)
        if abs(face.pose.yaw) < 8:
            continue
        middle = (face.points[0, 0] + face.points[16, 0]) / 2
        assert np.sign(face.points[30, 0] - middle) == np.sign(face.pose.yaw)
        checked += 1
    assert checked >= 10


def test_coverage_mask_puts_edges_on_the_polygon_at_every_direction() -> None:
    rng = np.random.default_rng(0)
    offsets = []
    for degrees in (0, 10, 30, 45, 60, 90, 120, 135, 170):
        angle = np.deg2rad(degrees)
        along = np.array([np.cos(angle), np.sin(angle)])
        inward = np.array([-along[1], along[0]])
        for _ in range(6):
            centre = np.array([32.0, 32.0]) + rng.uniform(-1, 1, size=2)
            far = centre + 40 * inward
            square = np.array(
                [centre - 40 * along, centre + 40 * along, far + 40 * along, far - 40 * along]
            )
            offsets.append(_edge_offset(coverage_mask(square, 64, 64), centre, inward))
    offsets = np.array(offsets)
    assert abs(offsets.mean()) < 0.06
    assert np.abs(offsets).max() < 0.25


def test_inset_polygon_moves_edges_inwards_and_spares_slivers() -> None:
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    assert np.allclose(inset_polygon(square, 1.0), [[1, 1], [9, 1], [9, 9], [1, 9]])
    assert np.allclose(inset_polygon(square[::-1], 1.0), [[1, 9], [9, 9], [9, 1], [1, 1]])
    sliver = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 0.2], [0.0, 0.2]])
    thinner = inset_polygon(sliver, 1.0)
    assert (thinner[:, 1] > 0).all() and (thinner[:, 1] < 0.2).all()


def test_cheek_contour_is_the_drawn_face_edge_even_when_turned() -> None:
    variation = Variation(face_fraction=(0.6, 0.75), occlusion_rate=0.0, degradation=0.0)
    worst = 0.0
    turned = 0
    for index in range(8):
        face = draw_synthetic_face(np.random.default_rng([5, index]), 256, variation)
        jaw = face.points[:17]
        turned += abs(face.pose.yaw) > 20
        for a, b in itertools.pairwise(jaw):
            along = (b - a) / np.linalg.norm(b - a)
            inward = np.array([along[1], -along[0]])  # the jaw runs anticlockwise on screen
            worst = max(worst, abs(_edge_offset(face.face_mask, (a + b) / 2, inward)))
    assert turned >= 2
    assert worst < 0.35


def test_points_under_an_occluder_are_invisible_and_the_rest_of_the_image_is_untouched() -> None:
    occluded = Variation(occlusion_rate=1.0, degradation=0.0)
    plain = Variation(occlusion_rate=0.0, degradation=0.0)
    hidden_total = 0
    for index in range(12):
        face = draw_synthetic_face(np.random.default_rng([6, index]), 128, occluded)
        bare = draw_synthetic_face(np.random.default_rng([6, index]), 128, plain)
        assert np.array_equal(face.points, bare.points)
        cells = np.clip(np.round(face.points).astype(int), 0, 127)
        under = face.occluder_mask[cells[:, 1], cells[:, 0]] >= 128
        assert not face.visible[under].any()
        assert np.array_equal(face.visible, bare.visible & ~under)
        hidden_total += int(under.sum())
        outside = face.occluder_mask == 0
        assert np.array_equal(face.image[outside], bare.image[outside])
        inside = face.occluder_mask == 255
        if inside.sum() > 20:
            changed = np.abs(face.image[inside].astype(int) - bare.image[inside]).sum(axis=1) > 0
            assert changed.mean() > 0.5
    assert hidden_total > 0


def test_turned_heads_hide_far_side_points_and_frontal_heads_hide_none() -> None:
    style = sample_head_style(np.random.default_rng(0))
    assert not self_occluded(build_head(MEAN_FACE, style, Pose()), Pose()).any()
    for yaw, far_corner, near_corner in ((50.0, 42, 39), (-50.0, 39, 42)):
        pose = Pose(yaw=yaw)
        hidden = self_occluded(build_head(MEAN_FACE, style, pose), pose)
        assert hidden[far_corner] and not hidden[near_corner]  # behind the nose
        assert (np.sign(MEAN_FACE[hidden, 0]) == np.sign(yaw)).all()
        assert not hidden[:17].any()  # the contour is the silhouette: always seen
    variation = Variation(max_yaw=45, occlusion_rate=0.0, degradation=0.0)
    for index in range(30):
        face = draw_synthetic_face(np.random.default_rng([7, index]), 64, variation)
        assert face.visible[:17].all()
        if abs(face.pose.yaw) < 5:
            assert face.visible.all()
        hidden = np.flatnonzero(~face.visible)
        assert (np.sign(MEAN_FACE[hidden, 0]) == np.sign(face.pose.yaw)).all()


def test_features_are_drawn_where_the_labels_are() -> None:
    checked = 0
    for index in range(30):
        face = draw_synthetic_face(np.random.default_rng([8, index]), 192, NEAR_FRONTAL)
        points, image = face.points, face.image.astype(np.float64)
        luminance = image @ np.array([0.299, 0.587, 0.114])
        up = (points[27] - points[8]) / np.linalg.norm(points[27] - points[8])
        inter_ocular = FACE_68.inter_ocular(points)
        for brow, lower_lid, nostril in ((19, 41, 31), (24, 46, 35)):  # brows: darker than skin
            on_brow = points[brow] - up * 0.04 * inter_ocular
            cheek = (points[lower_lid] + points[nostril]) / 2
            values = _sample(luminance, np.stack([on_brow, cheek]))
            assert values[0] < values[1] * 0.85
        cheek = (points[41] + points[31]) / 2 - up * 0.1 * inter_ocular
        cheek_luminance = luminance[round(cheek[1]), round(cheek[0])]
        if cheek_luminance < 70:  # too dark a face to tell a pupil from skin
            continue
        reach = max(2, round(0.12 * inter_ocular))
        for eye in (slice(36, 42), slice(42, 48)):  # a pupil, an iris or a closed lid's line
            x, y = np.round(points[eye].mean(axis=0)).astype(int)
            around = luminance[y - reach : y + reach + 1, x - reach : x + reach + 1]
            assert around.min() < 0.6 * cheek_luminance
        checked += 1
    assert checked >= 10


def test_bad_arguments_are_rejected_with_the_argument_named() -> None:
    with pytest.raises(ValueError, match="max_yaw"):
        Variation(max_yaw=90)
    with pytest.raises(ValueError, match="face_fraction"):
        Variation(face_fraction=(0.8, 0.5))
    with pytest.raises(ValueError, match="occlusion_rate"):
        Variation(occlusion_rate=1.5)
    with pytest.raises(ValueError, match="count"):
        synthetic_faces(-1)
    with pytest.raises(ValueError, match="size"):
        synthetic_faces(1, size=16)
    with pytest.raises(ValueError, match="seed"):
        synthetic_face(0, seed=-1)
