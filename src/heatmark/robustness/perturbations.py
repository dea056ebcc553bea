"""Synthetic image perturbations for robustness tests, and the named protocols built on them.

Occlusion and motion blur follow Yan et al. (2D Wasserstein loss for robust facial landmark
detection, Pattern Recognition 2021, section 4.3); noise, JPEG, low light and low resolution go
beyond the paper. Every perturbation is a pure function of the image (never modified), the
ground-truth points, the scheme and a ``numpy`` generator; face-relative sizes come from the
points, so a perturbation means the same thing on a 100 px and on a 1000 px face.

Severities (``Severity.MEDIUM`` / ``Severity.LARGE``):

- occlusion: one black filled ellipse, centre uniform in the landmark box, each semi-axis
  uniform in 0.3-0.6 (medium) or 0.6-1.0 (large) inter-ocular distances (IOD), angle uniform.
  An eye is about 0.3 IOD wide and the eyes-to-mouth height is about 1 IOD, so a medium
  ellipse hides a part (an eye, the nose, the mouth) and a large one half the face. Schemes
  without eye corners use half the landmark box's longer side as the IOD (a 68-point face is
  about 2 IOD wide).
- temporal motion blur (``blur-*``, sequences): a line kernel along the movement of the nose
  tip (68-point index 33) between frames t-1 and t+1, as long as that movement (medium) or
  twice as long (large); the first and last frames use their one neighbour. The paper derives
  the blur from the annotated motion in 300-VW; the two gains give a realistic and a harsh case.
- random motion blur (``blur-random-*``, still images): uniform direction, length 5% (medium)
  or 10% (large) of the landmark box's longer side.
- Gaussian noise: standard deviation 10 (medium) or 25 (large) grey levels of 255.
- JPEG: re-encoded at quality 20 (medium) or 8 (large).
- low light: ``255 * gain * (x / 255) ** gamma`` with gamma 1.8 and gain 0.6 (medium) or
  gamma 2.5 and gain 0.35 (large): dark and low-contrast, shadows crushed first.
- low resolution: down-sampled (area) so that the landmark box's longer side is 48 px (medium)
  or 24 px (large), then up-sampled (linear) back; a face already that small is left as is.

``apply_protocol`` seeds each perturbation from a SHA-256 of (protocol, sample key), so an image
gets the same perturbation in every run and for every model.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType

import cv2
import numpy as np

from heatmark.data.imaging import add_noise, ellipse_mask, fill_region, motion_blur
from heatmark.errors import HeatmarkError
from heatmark.schemes import FACE_68, Scheme, find_index_map


class Severity(str, Enum):
    """How strong a perturbation is."""

    MEDIUM = "medium"
    LARGE = "large"


OCCLUSION_SEMI_AXES: Mapping[Severity, tuple[float, float]] = MappingProxyType(
    {Severity.MEDIUM: (0.3, 0.6), Severity.LARGE: (0.6, 1.0)}
)
"""Range of each ellipse semi-axis, in inter-ocular distances."""
SEQUENCE_BLUR_GAIN: Mapping[Severity, float] = MappingProxyType(
    {Severity.MEDIUM: 1.0, Severity.LARGE: 2.0}
)
"""Kernel length per pixel of nose-tip movement between frames t-1 and t+1."""
RANDOM_BLUR_FRACTION: Mapping[Severity, float] = MappingProxyType(
    {Severity.MEDIUM: 0.05, Severity.LARGE: 0.10}
)
"""Kernel length as a fraction of the landmark box's longer side."""
NOISE_STD: Mapping[Severity, float] = MappingProxyType(
    {Severity.MEDIUM: 10.0, Severity.LARGE: 25.0}
)
"""Gaussian noise standard deviation, grey levels of 255."""
JPEG_QUALITY: Mapping[Severity, int] = MappingProxyType({Severity.MEDIUM: 20, Severity.LARGE: 8})
LOWLIGHT: Mapping[Severity, tuple[float, float]] = MappingProxyType(
    {Severity.MEDIUM: (1.8, 0.6), Severity.LARGE: (2.5, 0.35)}
)
"""(gamma, gain) of the low-light curve."""
LOWRES_FACE_PX: Mapping[Severity, float] = MappingProxyType(
    {Severity.MEDIUM: 48.0, Severity.LARGE: 24.0}
)
"""Longer side of the landmark box after down-sampling, pixels."""
NOSE_TIP_68 = 33


# --- face measures -------------------------------------------------------------------------------


def face_scale(points: np.ndarray, scheme: Scheme) -> float:
    """The inter-ocular distance, or half the landmark box's longer side without eye corners."""
    if scheme.outer_eye_corners is not None:
        iod = float(scheme.inter_ocular(points))
        if iod > 0:
            return iod
    return 0.5 * face_size(points)


def face_size(points: np.ndarray) -> float:
    """The landmark box's longer side (at least 1 px)."""
    extent = points.max(axis=0) - points.min(axis=0)
    return max(float(extent.max()), 1.0)


def covered_fraction(mask: np.ndarray, points: np.ndarray) -> float:
    """The fraction of ``points`` whose pixel lies in ``mask`` (points off the image: not)."""
    if len(points) == 0:
        return 0.0
    pixels = np.rint(points).astype(np.int64)
    height, width = mask.shape[:2]
    inside = (
        (pixels[:, 0] >= 0) & (pixels[:, 0] < width) & (pixels[:, 1] >= 0) & (pixels[:, 1] < height)
    )
    covered = np.zeros(len(points), bool)
    covered[inside] = mask[pixels[inside, 1], pixels[inside, 0]]
    return float(covered.mean())


# --- perturbations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Perturbed:
    """A perturbed image and, for occlusions, the fraction of landmarks it covers."""

    image: np.ndarray
    covered: float | None = None


@dataclass(frozen=True)
class Frame:
    """What a perturbation may use: the image, its ground truth, a seeded generator and, for
    a video frame, the sequence's (T, K, 2) points and the frame's position ``t``."""

    image: np.ndarray
    points: np.ndarray
    scheme: Scheme
    rng: np.random.Generator
    sequence_points: np.ndarray | None = None
    t: int | None = None


def occlusion_with_mask(
    image: np.ndarray,
    points: np.ndarray,
    scheme: Scheme,
    rng: np.random.Generator,
    severity: Severity,
) -> tuple[np.ndarray, np.ndarray]:
    """A black filled ellipse on the face, and its bool mask (for ``covered_fraction``): centre
    in the landmark box, semi-axes in ``OCCLUSION_SEMI_AXES[severity]`` inter-ocular distances,
    any angle."""
    low, high = OCCLUSION_SEMI_AXES[Severity(severity)]
    scale = face_scale(points, scheme)
    centre = rng.uniform(points.min(axis=0), points.max(axis=0))
    axes = rng.uniform(low * scale, high * scale, size=2)
    angle = float(rng.uniform(0.0, 180.0))
    mask = ellipse_mask(image.shape, centre, (float(axes[0]), float(axes[1])), angle)
    return fill_region(image, mask, (0, 0, 0)), mask


def tracking_point(scheme: Scheme) -> int | None:
    """The index of the nose tip (68-point index 33) in ``scheme``, if it has one."""
    if scheme == FACE_68:
        return NOSE_TIP_68
    try:
        index_map = find_index_map(scheme, FACE_68)
    except ValueError:
        return None
    return next((s for s, t in index_map.pairs if t == NOSE_TIP_68), None)


def sequence_blur(
    frames_points: np.ndarray, t: int, severity: Severity, scheme: Scheme = FACE_68
) -> tuple[float, float]:
    """``(direction_deg, length)`` of the motion blur of frame ``t`` of a sequence.

    ``frames_points`` is (T, K, 2). The direction is the nose tip's movement from frame t-1 to
    t+1 (clamped at the ends), the length ``SEQUENCE_BLUR_GAIN[severity]`` times its size.
    Schemes without a nose tip follow the points' mean.
    """
    frames = np.asarray(frames_points, dtype=np.float64)
    if frames.ndim != 3 or not 0 <= t < len(frames):
        raise HeatmarkError(f"frame {t} is not in a sequence of shape {frames.shape}")
    index = tracking_point(scheme)
    track = frames.mean(axis=1) if index is None else frames[:, index]
    movement = track[min(t + 1, len(frames) - 1)] - track[max(t - 1, 0)]
    direction = math.degrees(math.atan2(movement[1], movement[0]))
    length = SEQUENCE_BLUR_GAIN[Severity(severity)] * float(np.linalg.norm(movement))
    return direction, length


def blur_random(frame: Frame, severity: Severity) -> np.ndarray:
    """Motion blur in a random direction, ``RANDOM_BLUR_FRACTION`` of the face size long."""
    direction = float(frame.rng.uniform(0.0, 180.0))
    length = RANDOM_BLUR_FRACTION[severity] * face_size(frame.points)
    return motion_blur(frame.image, direction, length)


def gaussian_noise(frame: Frame, severity: Severity) -> np.ndarray:
    """Additive Gaussian noise of ``NOISE_STD[severity]`` grey levels."""
    return add_noise(frame.image, frame.rng, NOISE_STD[severity])


def jpeg(frame: Frame, severity: Severity) -> np.ndarray:
    """JPEG re-encoding at ``JPEG_QUALITY[severity]``."""
    bgr = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY[severity]])
    if not ok:
        raise HeatmarkError("OpenCV could not JPEG-encode the image")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def low_light(frame: Frame, severity: Severity) -> np.ndarray:
    """Gamma then darkening: ``255 * gain * (x / 255) ** gamma`` with ``LOWLIGHT[severity]``."""
    gamma, gain = LOWLIGHT[severity]
    table = np.rint(255.0 * gain * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)
    return cv2.LUT(frame.image, table)


def low_resolution(frame: Frame, severity: Severity) -> np.ndarray:
    """Down-sampled so the face is ``LOWRES_FACE_PX[severity]`` px long, then back up."""
    image = frame.image
    factor = min(LOWRES_FACE_PX[severity] / face_size(frame.points), 1.0)
    height, width = image.shape[:2]
    small = (max(round(width * factor), 1), max(round(height * factor), 1))
    if small == (width, height):
        return image.copy()
    down = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
    return cv2.resize(down, (width, height), interpolation=cv2.INTER_LINEAR)


# --- protocols --------------------------------------------------------------------------------


StillPerturbation = Callable[[Frame, Severity], np.ndarray]


@dataclass(frozen=True)
class Protocol:
    """A named perturbation with fixed severity; ``sequence``: needs the frames of a video."""

    description: str
    run: Callable[[Frame], Perturbed]
    parameters: Mapping[str, object] = field(default_factory=dict)
    sequence: bool = False


def _clean(frame: Frame) -> Perturbed:
    return Perturbed(frame.image.copy())


def _still(function: StillPerturbation, severity: Severity) -> Callable[[Frame], Perturbed]:
    def run(frame: Frame) -> Perturbed:
        return Perturbed(function(frame, severity))

    return run


def _occlusion(severity: Severity) -> Callable[[Frame], Perturbed]:
    def run(frame: Frame) -> Perturbed:
        image, mask = occlusion_with_mask(
            frame.image, frame.points, frame.scheme, frame.rng, severity
        )
        return Perturbed(image, covered_fraction(mask, frame.points))

    return run


def _sequence_blur(severity: Severity) -> Callable[[Frame], Perturbed]:
    def run(frame: Frame) -> Perturbed:
        if frame.sequence_points is None or frame.t is None:
            raise HeatmarkError(
                f"blur-{severity.value} needs the frames of a video sequence "
                "(sequence_points and t); use blur-random-* for still images"
            )
        direction, length = sequence_blur(frame.sequence_points, frame.t, severity, frame.scheme)
        return Perturbed(motion_blur(frame.image, direction, length))

    return run


def _protocols() -> dict[str, Protocol]:
    table = {"clean": Protocol("the unperturbed image", _clean)}
    for severity in Severity:
        level = severity.value
        low, high = OCCLUSION_SEMI_AXES[severity]
        gamma, gain = LOWLIGHT[severity]
        table |= {
            f"occlusion-{level}": Protocol(
                f"black ellipse, semi-axes {low:g}-{high:g} IOD, centre in the landmark box",
                _occlusion(severity),
                {"semi_axes_iod": [low, high]},
            ),
            f"blur-{level}": Protocol(
                f"motion blur along the nose tip's movement (t-1 to t+1), "
                f"{SEQUENCE_BLUR_GAIN[severity]:g}x its length",
                _sequence_blur(severity),
                {"length_per_movement": SEQUENCE_BLUR_GAIN[severity]},
                sequence=True,
            ),
            f"blur-random-{level}": Protocol(
                f"motion blur, random direction, {RANDOM_BLUR_FRACTION[severity]:.0%} of the "
                "face size long",
                _still(blur_random, severity),
                {"length_face_fraction": RANDOM_BLUR_FRACTION[severity]},
            ),
            f"noise-{level}": Protocol(
                f"Gaussian noise, std {NOISE_STD[severity]:g} of 255",
                _still(gaussian_noise, severity),
                {"std": NOISE_STD[severity]},
            ),
            f"jpeg-{level}": Protocol(
                f"JPEG quality {JPEG_QUALITY[severity]}",
                _still(jpeg, severity),
                {"quality": JPEG_QUALITY[severity]},
            ),
            f"lowlight-{level}": Protocol(
                f"gamma {gamma:g}, gain {gain:g}",
                _still(low_light, severity),
                {"gamma": gamma, "gain": gain},
            ),
            f"lowres-{level}": Protocol(
                f"face down-sampled to {LOWRES_FACE_PX[severity]:g} px and back",
                _still(low_resolution, severity),
                {"face_size_px": LOWRES_FACE_PX[severity]},
            ),
        }
    order = ("clean", "occlusion", "blur", "blur-random", "noise", "jpeg", "lowlight", "lowres")
    return {
        name: table[name]
        for kind in order
        for name in ([kind] if kind == "clean" else [f"{kind}-{s.value}" for s in Severity])
    }


PROTOCOLS: dict[str, Protocol] = _protocols()
"""The user-facing protocol names (``heatmark robustness``), in report order."""


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; a ``HeatmarkError`` listing the choices otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise HeatmarkError(
            f"unknown robustness protocol {name!r} (choose from: {', '.join(PROTOCOLS)})"
        ) from None


def protocol_rng(name: str, key: str) -> np.random.Generator:
    """The generator of protocol ``name`` for sample ``key``: seeded by SHA-256, stable across
    runs, processes and machines (unlike Python's ``hash``)."""
    digest = hashlib.sha256(f"{name}\0{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def perturb(
    name: str,
    image: np.ndarray,
    points: np.ndarray,
    scheme: Scheme,
    key: str,
    sequence_points: np.ndarray | None = None,
    t: int | None = None,
) -> Perturbed:
    """``apply_protocol`` with the fraction of landmarks covered (occlusion protocols)."""
    protocol = get_protocol(name)
    frame = Frame(
        image=image,
        points=np.asarray(points, dtype=np.float64),
        scheme=scheme,
        rng=protocol_rng(name, key),
        sequence_points=sequence_points,
        t=t,
    )
    return protocol.run(frame)


def apply_protocol(
    name: str,
    image: np.ndarray,
    points: np.ndarray,
    scheme: Scheme,
    key: str,
    sequence_points: np.ndarray | None = None,
    t: int | None = None,
) -> np.ndarray:
    """The image perturbed by protocol ``name`` (a new array), deterministic per (``name``,
    ``key``). Sequence protocols need the video's (T, K, 2) ``sequence_points`` and the frame's
    position ``t`` in it."""
    return perturb(name, image, points, scheme, key, sequence_points, t).image
