"""Perturbation primitives and protocols, on rendered synthetic faces."""

from __future__ import annotations

import numpy as np
import pytest

from heatmark.data.augment import AugmentConfig, random_photometric
from heatmark.data.imaging import motion_kernel
from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import HeatmarkError
from heatmark.robustness.perturbations import (
    OCCLUSION_SEMI_AXES,
    PROTOCOLS,
    Severity,
    apply_protocol,
    covered_fraction,
    motion_blur,
    occlusion_with_mask,
    perturb,
    sequence_blur,
)
from heatmark.schemes import FACE_68

FACES = synthetic_faces(50, seed=3, size=128)


def _sequence(face, steps: np.ndarray) -> np.ndarray:
    """(T, 68, 2) points: the face translated by the cumulative ``steps``."""
    offsets = np.cumsum(np.vstack([[0.0, 0.0], steps]), axis=0)
    return face.points[None] + offsets[:, None, :]


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_every_protocol_is_deterministic_per_key_and_leaves_the_input_alone(name: str) -> None:
    face = FACES[0]
    image = face.load_image()
    before = image.copy()
    sequence = _sequence(face, np.array([[4.0, 1.0], [5.0, 2.0]]))
    options = {"sequence_points": sequence, "t": 1} if PROTOCOLS[name].sequence else {}
    first = apply_protocol(name, image, face.points, face.scheme, "a/1", **options)
    again = apply_protocol(name, image, face.points, face.scheme, "a/1", **options)
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(first, again)
    assert first is not image and first.shape == image.shape and first.dtype == np.uint8
    if name == "clean":
        np.testing.assert_array_equal(first, image)
    else:
        assert np.abs(first.astype(int) - image).mean() > 0.5, name


@pytest.mark.parametrize(
    "name", ["occlusion-medium", "blur-random-large", "noise-medium", "occlusion-large"]
)
def test_random_protocols_differ_between_keys(name: str) -> None:
    face = FACES[1]
    image = face.load_image()
    one = apply_protocol(name, image, face.points, face.scheme, "a/1")
    other = apply_protocol(name, image, face.points, face.scheme, "a/2")
    assert not np.array_equal(one, other)


def test_unknown_protocol_lists_the_choices() -> None:
    face = FACES[0]
    with pytest.raises(HeatmarkError, match=r"unknown robustness protocol 'fog'.*occlusion-large"):
        apply_protocol("fog", face.load_image(), face.points, face.scheme, "k")


def test_sequence_protocol_without_a_sequence_is_refused() -> None:
    face = FACES[0]
    with pytest.raises(HeatmarkError, match="needs the frames of a video"):
        apply_protocol("blur-medium", face.load_image(), face.points, face.scheme, "k")


def test_occlusion_blacks_out_an_ellipse_on_the_face() -> None:
    rng = np.random.default_rng(0)
    for face in FACES[:10]:
        image = face.load_image()
        out, mask = occlusion_with_mask(image, face.points, face.scheme, rng, Severity.MEDIUM)
        assert (out[mask] == 0).all()
        np.testing.assert_array_equal(out[~mask], image[~mask])
        iod = FACE_68.inter_ocular(face.points)
        low, high = OCCLUSION_SEMI_AXES[Severity.MEDIUM]
        area = mask.sum()
        assert np.pi * (low * iod - 1) ** 2 <= area <= np.pi * (high * iod + 1) ** 2
        ys, xs = np.nonzero(mask)
        centre = np.array([xs.mean(), ys.mean()])
        box_min, box_max = face.points.min(axis=0), face.points.max(axis=0)
        assert (centre >= box_min - 1).all() and (centre <= box_max + 1).all()


def test_large_occlusions_cover_more_landmarks_than_medium() -> None:
    covered = {
        name: np.mean(
            [
                perturb(name, f.load_image(), f.points, f.scheme, f"face{i}").covered
                for i, f in enumerate(FACES)
            ]
        )
        for name in ("occlusion-medium", "occlusion-large")
    }
    assert 0.05 < covered["occlusion-medium"] < covered["occlusion-large"] < 0.8


def test_covered_fraction_counts_points_inside_the_mask() -> None:
    mask = np.zeros((10, 10), bool)
    mask[2:5, 2:5] = True
    points = np.array([[3.0, 3.0], [4.4, 2.0], [8.0, 8.0], [-3.0, 3.0]])
    assert covered_fraction(mask, points) == 0.5


@pytest.mark.parametrize(("direction", "length"), [(0, 9), (37, 6.5), (90, 3), (200, 12.3)])
def test_motion_kernel_is_normalised_and_points_along_the_direction(
    direction: float, length: float
) -> None:
    kernel = motion_kernel(direction, length)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-5)
    assert kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    ys, xs = np.nonzero(kernel > 1e-6)
    weights = kernel[ys, xs]
    half = kernel.shape[0] // 2
    vectors = np.stack([xs - half, ys - half], axis=1)
    axis = np.array([np.cos(np.radians(direction)), np.sin(np.radians(direction))])
    along = vectors @ axis
    across = vectors @ np.array([-axis[1], axis[0]])
    assert np.abs(across).max() < np.sqrt(2)  # bilinear taps of points on the line
    assert np.sqrt(weights @ across**2) < 0.5
    assert weights @ along == pytest.approx(0.0, abs=1e-5)  # centred
    # a uniform line of length L has standard deviation about L / sqrt(12)
    assert np.sqrt(weights @ along**2) == pytest.approx(length / np.sqrt(12), rel=0.2)


def test_motion_blur_spreads_along_its_direction_only() -> None:
    image = np.zeros((41, 41, 3), np.uint8)
    image[:, 20] = 255  # a vertical line
    across = motion_blur(image, 0.0, 9)
    along = motion_blur(image, 90.0, 9)
    np.testing.assert_array_equal(along, image)
    assert (across[:, 16:25] > 0).all() and (across[:, 20] < 60).all()
    assert (across[:, :15] == 0).all() and (across[:, 26:] == 0).all()
    np.testing.assert_array_equal(motion_blur(image, 45.0, 0.5), image)


def test_sequence_blur_follows_the_nose_tip() -> None:
    face = FACES[0]
    frames = _sequence(face, np.array([[3.0, 0.0], [3.0, 4.0], [0.0, -5.0]]))
    frames[:, 0] += 50.0  # moving the jaw must not change anything: the nose tip leads
    direction, length = sequence_blur(frames, 1, Severity.MEDIUM)
    assert direction == pytest.approx(np.degrees(np.arctan2(4.0, 6.0)))
    assert length == pytest.approx(np.hypot(6.0, 4.0))
    _, large = sequence_blur(frames, 1, Severity.LARGE)
    assert large == pytest.approx(2 * length)
    first_direction, first_length = sequence_blur(frames, 0, Severity.MEDIUM)  # clamped
    assert (first_direction, first_length) == pytest.approx((0.0, 3.0))
    last_direction, _ = sequence_blur(frames, 3, Severity.MEDIUM)
    assert last_direction == pytest.approx(-90.0)
    with pytest.raises(HeatmarkError, match="frame 4"):
        sequence_blur(frames, 4, Severity.MEDIUM)


def test_sequence_protocol_blurs_along_the_movement() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, 32] = 255
    points = FACES[0].points * 0.3 + 10
    horizontal = _sequence(FACES[0], np.array([[6.0, 0.0], [6.0, 0.0]])) * 0.3 + 10
    vertical = _sequence(FACES[0], np.array([[0.0, 6.0], [0.0, 6.0]])) * 0.3 + 10
    moved = apply_protocol("blur-large", image, points, FACE_68, "k", horizontal, 1)
    still = apply_protocol("blur-large", image, points, FACE_68, "k", vertical, 1)
    assert (moved[:, 30] > 0).all() and (moved[:, 32] < 255).all()
    assert (still[5:-5] == image[5:-5]).all()


def test_augmentation_stays_deterministic_and_uses_every_channel_for_noise() -> None:
    image = FACES[0].load_image()
    config = AugmentConfig(
        blur_probability=0, occlusion_probability=0, colour_probability=0, noise_probability=1
    )
    one = random_photometric(np.random.default_rng(5), image, config)
    two = random_photometric(np.random.default_rng(5), image, config)
    np.testing.assert_array_equal(one, two)
    changed = (one != image).reshape(-1, 3).mean(axis=0)
    assert (changed > 0.2).all()
    full = AugmentConfig(occlusion_probability=1, blur_probability=1, noise_probability=1)
    a = random_photometric(np.random.default_rng(9), image, full)
    b = random_photometric(np.random.default_rng(9), image, full)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, random_photometric(np.random.default_rng(10), image, full))


# --- strength, measured on the output --------------------------------------------------------


@pytest.mark.parametrize(("name", "std"), [("noise-medium", 10.0), ("noise-large", 25.0)])
def test_noise_has_the_documented_standard_deviation(name: str, std: float) -> None:
    """Mid-grey, so that no value saturates: the output minus the input is N(0, std)."""
    grey = np.full((200, 200, 3), 128, np.uint8)
    points = FACES[0].points * 1.5
    out = apply_protocol(name, grey, points, FACE_68, "grey").astype(float) - 128
    assert out.std() == pytest.approx(std, rel=0.03)
    assert abs(out.mean()) < 0.1 * std
    for channel in range(3):  # every channel gets its own noise
        assert out[..., channel].std() == pytest.approx(std, rel=0.05)
    assert abs(np.corrcoef(out[..., 0].ravel(), out[..., 1].ravel())[0, 1]) < 0.05


@pytest.mark.parametrize(
    ("name", "gamma", "gain"), [("lowlight-medium", 1.8, 0.6), ("lowlight-large", 2.5, 0.35)]
)
def test_low_light_follows_its_formula(name: str, gamma: float, gain: float) -> None:
    """Every grey level through ``255 * gain * (x / 255) ** gamma`` (rounded)."""
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2).repeat(4, 0)
    out = apply_protocol(name, ramp, FACES[0].points, FACE_68, "ramp")
    x = np.arange(256) / 255.0
    expected = np.rint(255 * gain * x**gamma)
    np.testing.assert_allclose(out[0, :, 0], expected, atol=1)
    assert out.max() <= round(255 * gain)  # darker everywhere: highlights too


@pytest.mark.parametrize(
    "kind", ["occlusion", "blur-random", "noise", "jpeg", "lowlight", "lowres"]
)
def test_large_is_harsher_than_medium(kind: str) -> None:
    """Mean absolute change of the face box over 10 faces: large > 1.2 x medium (measured
    ratios: occlusion 2.2, blur 2.0, noise 2.4, JPEG 1.5, low light 1.3, low resolution 1.8)."""
    change = {}
    for level in ("medium", "large"):
        total = 0.0
        for i, face in enumerate(FACES[:10]):
            image = face.load_image()
            out = apply_protocol(f"{kind}-{level}", image, face.points, face.scheme, f"k{i}")
            x0, y0 = np.floor(face.points.min(axis=0)).astype(int)
            x1, y1 = np.ceil(face.points.max(axis=0)).astype(int)
            box = (slice(y0, y1 + 1), slice(x0, x1 + 1))
            total += np.abs(out[box].astype(float) - image[box]).mean()
        change[level] = total / 10
    assert change["large"] > 1.2 * change["medium"] > 0, change
