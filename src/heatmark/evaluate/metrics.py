"""Landmark accuracy metrics: NME, image- and landmark-wise failure rates, CED and AUC.

Conventions (as in the 300W / WFLW / COFW literature and the 2D Wasserstein paper):
- the error of a landmark is its Euclidean distance to the ground truth divided by the image's
  normalising distance (``Normaliser``);
- NME of an image is the mean error over its (visible, if a mask is given) landmarks; the NME
  of a set is the mean over images;
- FR_I@theta: fraction of images whose NME exceeds theta;
- FR_L@theta: for each landmark index, the fraction of images where that landmark's error
  exceeds theta, averaged over landmark indices (landmark-wise failure rate, Wasserstein paper);
- CED: the cumulative distribution of errors (image NMEs, or all landmark errors);
- AUC@theta: the area under the CED from 0 to theta divided by theta. Computed exactly as the
  mean of max(0, 1 - e / theta), which is what the usual fine-grid trapezoid approximates.

Body joints (LSP) are scored by PCK@0.2 (Percentage of Correct Keypoints): the fraction of
visible joints whose error is at most 0.2 times the torso size (boundary included, ``<=``). The
torso size is the distance between the scheme's torso pair (``Scheme.torso``, the one
definition). The mean is pooled over every scored joint; a body part (``BODY_PARTS``: head =
head top and neck, then shoulders, elbows, wrists, hips, knees, ankles) is the mean of its
joints' PCKs, left and right averaged as papers report, and as the usual LSP evaluation code
(Pishchulin's ``eval_pck``, ``bearpaw/eval_pose``) does.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from heatmark.data.sample import is_body_scheme
from heatmark.schemes import Scheme


class Normaliser(str, Enum):
    """The distance errors are divided by."""

    INTER_OCULAR = "inter-ocular"  # outer eye corners
    INTER_PUPIL = "inter-pupil"  # eye centres
    BOX = "box"  # sqrt(width * height) of the face box (AFLW uses the box size)
    BOX_DIAGONAL = "box-diagonal"  # diagonal of the face box
    TORSO = "torso"  # body schemes (LSP): the scheme's torso pair (``Scheme.torso``)
    NONE = "none"  # raw pixels (normaliser 1)


PCK_THRESHOLD = 0.2
"""PCK threshold as a fraction of the torso size (PCK@0.2, the LSP literature's)."""

BODY_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("head", ("head_top", "neck")),
    ("shoulder", ("right_shoulder", "left_shoulder")),
    ("elbow", ("right_elbow", "left_elbow")),
    ("wrist", ("right_wrist", "left_wrist")),
    ("hip", ("right_hip", "left_hip")),
    ("knee", ("right_knee", "left_knee")),
    ("ankle", ("right_ankle", "left_ankle")),
)
"""The per-part PCK table of body papers, by point name. LSP has no separate head centre: as
in the standard LSP evaluation code, "head" pairs the head top with the neck."""


def default_normaliser(scheme: Scheme) -> Normaliser:
    """The normaliser a scheme is usually scored with: the torso for bodies, the inter-ocular
    (outer eye corner) distance for faces that define the eyes, else the box size (AFLW)."""
    if scheme.torso is not None:
        return Normaliser.TORSO
    if scheme.outer_eye_corners is not None:
        return Normaliser.INTER_OCULAR
    return Normaliser.BOX


def check_normaliser(scheme: Scheme, normaliser: Normaliser) -> None:
    """Raise ``ValueError`` when ``scheme`` lacks the points ``normaliser`` is measured on."""
    missing = {
        Normaliser.INTER_OCULAR: (scheme.outer_eye_corners, "outer eye corners"),
        Normaliser.INTER_PUPIL: (scheme.eye_centres, "eye centres"),
        Normaliser.TORSO: (scheme.torso, "torso pair"),
    }.get(normaliser)
    if missing is not None and missing[0] is None:
        raise ValueError(
            f"the {normaliser.value} normaliser is undefined for the {scheme.name} scheme "
            f"(it has no {missing[1]}); use {default_normaliser(scheme).value}"
        )


def body_parts(scheme: Scheme) -> dict[str, tuple[int, ...]]:
    """``BODY_PARTS`` as point indices of ``scheme``; empty for schemes that are not bodies.

    Parts whose points the scheme does not name are left out."""
    if not is_body_scheme(scheme):
        return {}
    index = {name: i for i, name in enumerate(scheme.point_names)}
    return {
        part: tuple(index[name] for name in names)
        for part, names in BODY_PARTS
        if all(name in index for name in names)
    }


def normalising_distance(
    gt: np.ndarray,
    scheme: Scheme,
    normaliser: Normaliser,
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """(N, K, 2) ground truth (+ (N, 4) boxes) -> (N,) normalising distances.

    Boxes are ``(x_min, y_min, x_max, y_max)``; when ``boxes`` is None the tight box of the
    ground-truth points is used (the usual GT-box protocol).
    """
    gt = np.asarray(gt, dtype=np.float64)
    if normaliser is Normaliser.INTER_OCULAR:
        return scheme.inter_ocular(gt)
    if normaliser is Normaliser.INTER_PUPIL:
        return scheme.inter_pupil(gt)
    if normaliser is Normaliser.TORSO:
        return scheme.torso_size(gt)
    if normaliser is Normaliser.NONE:
        return np.ones(gt.shape[0])
    if boxes is None:
        boxes = np.concatenate([gt.min(axis=1), gt.max(axis=1)], axis=1)
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    if normaliser is Normaliser.BOX:
        return np.sqrt(width * height)
    return np.hypot(width, height)


def landmark_errors(
    pred: np.ndarray,
    gt: np.ndarray,
    norm: np.ndarray,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """(N, K) normalised errors; NaN where ``mask`` (N, K) is False."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground truth shape {gt.shape}")
    norm = np.asarray(norm, dtype=np.float64)
    if np.any(~(norm > 0)):
        bad = int(np.flatnonzero(~(norm > 0))[0])
        raise ValueError(f"normalising distance of image {bad} is {norm[bad]} (must be > 0)")
    errors = np.linalg.norm(pred - gt, axis=-1) / norm[:, None]
    if mask is not None:
        errors = np.where(np.asarray(mask, dtype=bool), errors, np.nan)
    return errors


def nme_per_image(errors: np.ndarray) -> np.ndarray:
    """(N, K) landmark errors -> (N,) mean over each image's valid landmarks."""
    valid = ~np.isnan(errors)
    counts = valid.sum(axis=1)
    if np.any(counts == 0):
        raise ValueError(f"image {int(np.flatnonzero(counts == 0)[0])} has no valid landmark")
    return np.where(valid, errors, 0.0).sum(axis=1) / counts


def failure_rate_images(nme: np.ndarray, threshold: float) -> float:
    """FR_I@threshold: fraction of images whose NME is above ``threshold``."""
    return float(np.mean(np.asarray(nme) > threshold))


def failure_rate_landmarks(errors: np.ndarray, threshold: float) -> float:
    """FR_L@threshold: per landmark index the fraction of (valid) errors above threshold,
    averaged over landmark indices."""
    valid = ~np.isnan(errors)
    failures = np.where(valid, errors > threshold, False).sum(axis=0)
    counts = valid.sum(axis=0)
    per_landmark = failures[counts > 0] / counts[counts > 0]
    return float(per_landmark.mean())


def ced(errors: np.ndarray, max_error: float, steps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution of the finite values of ``errors`` on [0, max_error]."""
    values = np.sort(np.asarray(errors, dtype=np.float64)[~np.isnan(errors)].ravel())
    thresholds = np.linspace(0.0, max_error, steps + 1)
    fractions = np.searchsorted(values, thresholds, side="right") / max(values.size, 1)
    return thresholds, fractions


def auc(errors: np.ndarray, threshold: float) -> float:
    """AUC@threshold of the CED of ``errors`` (NaNs ignored), normalised to [0, 1]."""
    values = np.asarray(errors, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.mean(np.clip(1.0 - values / threshold, 0.0, None)))


def pck_landmarks(errors: np.ndarray, threshold: float = PCK_THRESHOLD) -> np.ndarray:
    """(N, K) normalised errors -> (K,) fraction of each landmark's valid (non-NaN) errors that
    are ``<= threshold``; NaN for a landmark with no valid error."""
    errors = np.asarray(errors, dtype=np.float64)
    valid = ~np.isnan(errors)
    counts = valid.sum(axis=0)
    correct = np.where(valid, errors <= threshold, False).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, correct / np.maximum(counts, 1), np.nan)


def pck(errors: np.ndarray, threshold: float = PCK_THRESHOLD) -> float:
    """Fraction of all valid (non-NaN) errors that are ``<= threshold`` (pooled over joints);
    NaN when there is none."""
    values = np.asarray(errors, dtype=np.float64)
    values = values[~np.isnan(values)]
    return float(np.mean(values <= threshold)) if values.size else float("nan")


def pck_parts(
    errors: np.ndarray, parts: dict[str, tuple[int, ...]], threshold: float = PCK_THRESHOLD
) -> dict[str, float]:
    """PCK of each body part: the mean of its joints' PCKs (``pck_landmarks``), joints with no
    valid error ignored; NaN for a part with none."""
    per_joint = pck_landmarks(errors, threshold)
    result = {}
    for part, indices in parts.items():
        values = per_joint[list(indices)]
        values = values[~np.isnan(values)]
        result[part] = float(values.mean()) if values.size else float("nan")
    return result
