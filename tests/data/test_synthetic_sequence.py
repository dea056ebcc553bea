"""Synthetic video sequences: one person moving and turning smoothly, exact points per frame."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from heatmark.data.synthetic.sequence import SEQUENCE_SUBSET, synthetic_sequence
from heatmark.robustness.export import sequence_positions
from heatmark.robustness.perturbations import apply_protocol
from heatmark.schemes import FACE_68

NOSE_TIP = 30


@pytest.fixture(scope="module")
def frames():
    return synthetic_sequence(16, seed=3, size=128)


def test_frames_are_one_labelled_sequence(frames) -> None:
    assert len(frames) == 16
    for t, sample in enumerate(frames):
        assert sample.scheme is FACE_68
        assert sample.points.shape == (68, 2)
        assert sample.image.shape == (128, 128, 3) and sample.image.dtype == np.uint8
        assert sample.frame_index == t
        assert sample.image_path == Path("synthetic/sequence3.avi")
        assert sample.subset == SEQUENCE_SUBSET
        assert f"frame {t}" in sample.source
        assert (sample.points >= 2).all() and (sample.points <= 125).all()
    for a, b in itertools.pairwise(frames):
        assert not np.array_equal(a.image, b.image)


def test_deterministic_and_prefix_stable(frames) -> None:
    again = synthetic_sequence(6, seed=3, size=128)
    for a, b in zip(again, frames, strict=False):
        assert np.array_equal(a.image, b.image)
        assert np.array_equal(a.points, b.points)
    other = synthetic_sequence(2, seed=4, size=128)
    assert not np.array_equal(other[0].points, frames[0].points)


def test_points_move_smoothly(frames) -> None:
    points = np.stack([s.points for s in frames])
    step = np.linalg.norm(np.diff(points, axis=0), axis=2)  # (T-1, 68) per-point motion
    iod = np.linalg.norm(points[:, 36] - points[:, 45], axis=1)
    assert (step.mean(axis=1) > 0.05).all()  # it moves in every frame
    assert step.max() < 0.25 * iod.min()  # but by little (a video, not a slide show)
    accel = np.linalg.norm(np.diff(points, 2, axis=0), axis=2)
    assert accel.max() < 0.5 * step.max() + 0.5  # no jumps: the motion changes slowly


def _patch(image: np.ndarray, centre: np.ndarray, half: int = 5) -> np.ndarray:
    x, y = np.round(centre).astype(int)
    return image[y - half : y + half + 1, x - half : x + half + 1].astype(np.float64)


def test_points_follow_the_drawing(frames) -> None:
    """The nose tip's pixels move with its point: the patch at the new point matches the first
    frame's nose-tip patch better than the pixels left at the old position."""
    first = frames[0]
    reference = _patch(first.image, first.points[NOSE_TIP])
    moved = [s for s in frames if np.linalg.norm(s.points[NOSE_TIP] - first.points[NOSE_TIP]) > 4]
    assert moved, "the nose tip should travel more than 4 px over 16 frames"
    for sample in moved:
        at_point = np.abs(_patch(sample.image, sample.points[NOSE_TIP]) - reference).mean()
        left_behind = np.abs(_patch(sample.image, first.points[NOSE_TIP]) - reference).mean()
        assert at_point < left_behind


def test_sequence_positions_and_blur(frames) -> None:
    keys = [f"sequence3/{s.frame_index:04d}" for s in frames]
    shuffled = list(reversed(range(len(frames))))
    positions = sequence_positions([frames[i] for i in shuffled], [keys[i] for i in shuffled])
    assert len(positions) == len(frames)
    for index, (points, t) in positions.items():
        sample = frames[shuffled[index]]
        assert t == sample.frame_index
        assert points.shape == (16, 68, 2)
        assert np.array_equal(points[t], sample.points)
    for index in (0, 7):  # interior and end frames
        points, t = positions[index]
        sample = frames[shuffled[index]]
        blurred = apply_protocol(
            "blur-large", sample.image, sample.points, FACE_68, keys[shuffled[index]], points, t
        )
        assert blurred.shape == sample.image.shape
        assert np.abs(blurred.astype(int) - sample.image.astype(int)).mean() > 0.5


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="frames"):
        synthetic_sequence(0)
    with pytest.raises(ValueError, match="size"):
        synthetic_sequence(2, size=16)
