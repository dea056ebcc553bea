"""EXIF orientation: annotations refer to the stored pixels, so images are read unrotated."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from heatmark.data.readers import read_300w, write_pts
from heatmark.data.sample import image_size, read_image

ORIENTATION = 0x0112  # EXIF tag; 6 = "rotate 90 degrees clockwise to display"


def write_rotated_jpeg(path: Path, width: int = 64, height: int = 32) -> np.ndarray:
    """A JPEG whose stored pixels are ``width`` x ``height``, left half red, right half blue
    (the edge on a 16-pixel block boundary), tagged with EXIF orientation 6. Returns the
    stored RGB pixels."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (255, 0, 0)
    pixels[:, width // 2 :] = (0, 0, 255)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    Image.fromarray(pixels).save(path, quality=95, exif=exif.tobytes())
    return pixels


def test_read_image_ignores_exif_orientation(tmp_path):
    path = tmp_path / "rotated.jpg"
    stored = write_rotated_jpeg(path)
    with Image.open(path) as image:
        assert image.getexif()[ORIENTATION] == 6  # the tag is really there
    # OpenCV's default would turn the picture upright: the test image is meaningful
    upright = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
    assert upright.shape == (64, 32, 3)

    pixels = read_image(path)
    assert pixels.shape == stored.shape == (32, 64, 3)
    away_from_edge = np.r_[0:24, 40:64]  # colour is smoothed across the red/blue edge
    difference = pixels[:, away_from_edge].astype(int) - stored[:, away_from_edge]
    assert np.abs(difference).max() < 60  # JPEG loss only (a few levels), no rotation
    assert pixels[16, 5, 0] > 200 and pixels[16, 5, 2] < 50  # left half red
    assert pixels[16, 58, 2] > 200 and pixels[16, 58, 0] < 50  # right half blue
    assert image_size(path, tmp_path / "a.pts") == (64, 32)  # the header's stored size


def test_300w_sample_with_exif_orientation_matches_its_points(tmp_path):
    """A point on the stored right edge stays valid and on blue pixels."""
    image = tmp_path / "afw" / "face.jpg"
    image.parent.mkdir()
    write_rotated_jpeg(image)
    points = np.random.default_rng(0).uniform(0, 20, size=(68, 2))
    points[0] = (60.0, 28.0)  # x = 60 exists only in the stored (64 wide) orientation
    write_pts(image.with_suffix(".pts"), points)
    (sample,) = read_300w(tmp_path)
    pixels = sample.load_image()
    assert pixels.shape == (32, 64, 3)
    x, y = sample.points[0].astype(int)
    assert pixels[y, x, 2] > 200 and pixels[y, x, 0] < 50
