"""Geometry and augmentation: pixels and points go through the same matrix."""

import cv2
import numpy as np
import pytest

from heatmark.data.augment import AugmentConfig, random_geometry, random_photometric
from heatmark.data.geometry import (
    box_crop_matrix,
    crop_matrix,
    horizontal_flip_matrix,
    invert,
    similarity_about,
    transform_points,
    warp_image,
)
from heatmark.schemes import FACE_68


def test_crop_maps_box_edges_to_output_edges() -> None:
    m = crop_matrix(np.array([50.0, 40.0]), side=20.0, output_size=10)
    # box edges 40 and 60 (x) land on the output pixel edges -0.5 and 9.5
    np.testing.assert_allclose(
        transform_points(m, np.array([[40.0, 30.0], [60.0, 50.0]])), [[-0.5, -0.5], [9.5, 9.5]]
    )
    np.testing.assert_allclose(transform_points(m, np.array([50.0, 40.0])), [4.5, 4.5])


def test_box_crop_is_square_on_longer_side() -> None:
    m = box_crop_matrix(np.array([0.0, 0.0, 100.0, 50.0]), output_size=100, enlarge=1.0)
    assert m[0, 0] == pytest.approx(1.0) and m[1, 1] == pytest.approx(1.0)
    np.testing.assert_allclose(transform_points(m, np.array([50.0, 25.0])), [49.5, 49.5])


def test_warp_then_inverse_returns_points() -> None:
    rng = np.random.default_rng(3)
    config = AugmentConfig()
    for _ in range(50):
        matrix, _ = random_geometry(rng, 256, config)
        crop = box_crop_matrix(np.array([30.0, 40.0, 230.0, 260.0]), 256, 1.3)
        full = matrix @ crop
        points = rng.uniform(0, 300, size=(68, 2))
        back = transform_points(invert(full), transform_points(full, points))
        assert np.abs(back - points).max() < 1e-4


def test_pixels_follow_points_through_a_warp() -> None:
    """A bright dot drawn at a sub-pixel point is found at the warped point."""
    image = np.zeros((200, 200, 3), np.uint8)
    point = np.array([70.3, 120.6])
    # draw a smooth blob centred at the point
    ys, xs = np.mgrid[0:200, 0:200]
    blob = 255 * np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * 3.0**2))
    image[..., 0] = blob.astype(np.uint8)
    matrix = similarity_about(np.array([100.0, 100.0]), 30.0, 1.2, (5.0, -7.0))
    matrix = horizontal_flip_matrix(200) @ matrix
    warped = warp_image(image, matrix, 200)[..., 0].astype(float)
    expected = transform_points(matrix, point)
    ys, xs = np.mgrid[0:200, 0:200]
    centroid = np.array([(warped * xs).sum(), (warped * ys).sum()]) / warped.sum()
    assert np.abs(centroid - expected).max() < 0.1


def test_flipped_sample_left_eye_is_original_right_eye() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 127, size=(68, 2))
    flip = horizontal_flip_matrix(128)
    moved = transform_points(flip, points)[list(FACE_68.flip_permutation)]
    # new point 36 (outer corner on the image's left) is the mirror of old point 45
    np.testing.assert_allclose(moved[36], [127 - points[45, 0], points[45, 1]])
    np.testing.assert_allclose(moved, FACE_68.flip_points(points, 128))


def test_random_geometry_ranges() -> None:
    rng = np.random.default_rng(1)
    config = AugmentConfig(flip_probability=0.0)
    for _ in range(200):
        matrix, flipped = random_geometry(rng, 256, config)
        assert not flipped
        scale = np.sqrt(abs(np.linalg.det(matrix[:2, :2])))
        assert 0.85 - 1e-9 <= scale <= 1.15 + 1e-9
        angle = np.degrees(np.arctan2(matrix[0, 1], matrix[0, 0]))
        assert abs(angle) <= 50 + 1e-9
        centre = transform_points(matrix, np.array([127.5, 127.5]))
        assert np.abs(centre - 127.5).max() <= 25 + 1e-9
    flips = [random_geometry(rng, 256, AugmentConfig())[1] for _ in range(400)]
    assert 0.4 < np.mean(flips) < 0.6


def test_photometric_changes_pixels_only_and_keeps_dtype() -> None:
    rng = np.random.default_rng(2)
    image = np.full((64, 64, 3), 128, np.uint8)
    config = AugmentConfig(
        blur_probability=1, noise_probability=1, occlusion_probability=1, colour_probability=1
    )
    out = random_photometric(rng, image, config)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert not np.array_equal(out, image)
    assert np.array_equal(image, np.full((64, 64, 3), 128, np.uint8))  # input untouched
    none = AugmentConfig(
        blur_probability=0, noise_probability=0, occlusion_probability=0, colour_probability=0
    )
    assert np.array_equal(random_photometric(rng, image, none), image)


def test_augment_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="flip_probability"):
        AugmentConfig(flip_probability=1.5)
    with pytest.raises(ValueError, match="rotation"):
        AugmentConfig(rotations=3)


def test_cv2_pixel_centre_convention() -> None:
    """cv2.warpAffine treats integer coordinates as pixel centres (the heatmark convention)."""
    image = np.zeros((9, 9), np.float32)
    image[4, 4] = 1.0
    shifted = cv2.warpAffine(image, np.array([[1, 0, 2.0], [0, 1, 0]]), (9, 9))
    assert shifted[4, 6] == 1.0
