"""Metrics against hand-computed cases and mmpose's published test vector."""

import numpy as np
import pytest

from heatmark.evaluate.metrics import (
    Normaliser,
    auc,
    ced,
    failure_rate_images,
    failure_rate_landmarks,
    landmark_errors,
    nme_per_image,
    normalising_distance,
)
from heatmark.schemes import FACE_68, WFLW_98


def test_mmpose_keypoint_nme_vector() -> None:
    """mmpose tests/test_evaluation/test_functional/test_keypoint_eval.py::test_keypoint_nme."""
    pred = np.zeros((1, 5, 2))
    gt = np.zeros((1, 5, 2))
    mask = np.array([[True, True, False, True, True]])
    pred[0, 0], gt[0, 0] = [10, 4], [10, 0]
    pred[0, 1], gt[0, 1] = [10, 18], [10, 10]
    pred[0, 2], gt[0, 2] = [0, 0], [-1, -1]
    pred[0, 3], gt[0, 3] = [40, 40], [30, 30]
    pred[0, 4], gt[0, 4] = [20, 10], [0, 10]
    errors = landmark_errors(pred, gt, np.ones(1), mask)
    assert nme_per_image(errors)[0] == pytest.approx(11.5355339, abs=1e-6)


def test_normalisers() -> None:
    gt = np.zeros((2, 68, 2))
    gt[:, 36] = [10, 10]
    gt[:, 45] = [50, 40]  # distance 50
    # eyes 10 px wide: centres (15, 10) and (45, 40), 30 * sqrt(2) apart
    gt[:, [37, 38, 40, 41]] = [15, 10]
    gt[:, 39] = [20, 10]
    gt[:, 42] = [40, 40]
    gt[:, [43, 44, 46, 47]] = [45, 40]
    gt[1] *= 2

    def norm(normaliser: Normaliser, boxes: np.ndarray | None = None) -> np.ndarray:
        return normalising_distance(gt, FACE_68, normaliser, boxes)

    np.testing.assert_allclose(norm(Normaliser.INTER_OCULAR), [50, 100])
    np.testing.assert_allclose(norm(Normaliser.INTER_PUPIL), [30 * np.sqrt(2), 60 * np.sqrt(2)])
    boxes = np.array([[0, 0, 40, 90], [0, 0, 30, 40]], dtype=float)
    np.testing.assert_allclose(norm(Normaliser.BOX, boxes), [60, np.sqrt(1200)])
    np.testing.assert_allclose(norm(Normaliser.BOX_DIAGONAL, boxes), [np.hypot(40, 90), 50])
    # without boxes the tight landmark box is used: (0, 0)-(50, 40), and twice that
    np.testing.assert_allclose(norm(Normaliser.BOX), [np.sqrt(2000), np.sqrt(8000)])
    np.testing.assert_allclose(norm(Normaliser.NONE), [1, 1])
    w = np.zeros((1, 98, 2))
    w[0, 96], w[0, 97] = [0, 0], [3, 4]
    assert normalising_distance(w, WFLW_98, Normaliser.INTER_PUPIL)[0] == pytest.approx(5)


def test_failure_rates_by_hand() -> None:
    # 4 images x 3 landmarks of normalised errors
    errors = np.array(
        [
            [0.01, 0.02, 0.30],
            [0.05, 0.20, 0.03],
            [0.50, 0.40, 0.60],
            [0.02, 0.01, 0.03],
        ]
    )
    nme = nme_per_image(errors)
    np.testing.assert_allclose(nme, [0.11, 0.28 / 3, 0.5, 0.02])
    assert failure_rate_images(nme, 0.1) == pytest.approx(0.5)  # images 0 and 2
    # per landmark: [1/4, 2/4, 2/4] -> mean 5/12
    assert failure_rate_landmarks(errors, 0.1) == pytest.approx(5 / 12)
    masked = errors.copy()
    masked[2, 0] = np.nan  # landmark 0 of image 2 not evaluated: landmark 0 fails 0/3
    assert failure_rate_landmarks(masked, 0.1) == pytest.approx((0 + 0.5 + 0.5) / 3)


@pytest.mark.parametrize("threshold", [0.125, 0.5])
def test_an_error_exactly_at_the_threshold_is_not_a_failure(threshold: float) -> None:
    """Failure means error > threshold (the papers' definition). 0.125 and 0.5 are exact
    binary fractions, so the errors below equal the threshold bit for bit."""
    assert threshold * 2**3 == int(threshold * 2**3)  # exactly representable
    nme = np.array([threshold, threshold, np.nextafter(threshold, 1.0), 0.0])
    assert failure_rate_images(nme, threshold) == 0.25  # only the one just above fails
    errors = np.array([[threshold, 0.0], [threshold, np.nextafter(threshold, 1.0)]])
    # landmark 0: 0 of 2 fail; landmark 1: 1 of 2
    assert failure_rate_landmarks(errors, threshold) == 0.25


def test_auc_and_ced() -> None:
    values = np.array([0.0, 0.05, 0.1, 0.2])
    # mean of max(0, 1 - e/0.1) = (1 + 0.5 + 0 + 0) / 4
    assert auc(values, 0.1) == pytest.approx(0.375)
    thresholds, fractions = ced(values, 0.2, steps=4)
    np.testing.assert_allclose(thresholds, [0, 0.05, 0.1, 0.15, 0.2])
    np.testing.assert_allclose(fractions, [0.25, 0.5, 0.75, 0.75, 1.0])
    # the exact AUC equals the trapezoid of a fine CED
    rng = np.random.default_rng(0)
    e = rng.gamma(2.0, 0.02, size=500)
    t, f = ced(e, 0.1, steps=100000)
    assert auc(e, 0.1) == pytest.approx(np.trapezoid(f, t) / 0.1, abs=1e-4)
    assert auc(np.array([0.5, np.nan]), 0.1) == 0.0


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="shape"):
        landmark_errors(np.zeros((1, 3, 2)), np.zeros((1, 4, 2)), np.ones(1))
    with pytest.raises(ValueError, match="normalising distance of image 1"):
        landmark_errors(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="no valid landmark"):
        nme_per_image(np.full((1, 3), np.nan))
