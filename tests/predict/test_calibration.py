"""Box calibration: the mapping, its fit on a synthetic detector with a known relation, the
shipped calibrations, and the shipped HOG one on real 300-W faces (skipped without ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from heatmark.data.readers.auto import load_dataset
from heatmark.data.sample import Sample
from heatmark.errors import DataError, HeatmarkError
from heatmark.predict.calibration import (
    IDENTITY,
    BoxCalibration,
    calibration_for,
    evaluate_calibration,
    fit_boxes,
    fit_calibration,
    iou,
    load_calibrations,
    main,
)
from heatmark.predict.detectors import HogDetector
from heatmark.schemes import FACE_68


# ---------------------------------------------------------------- the mapping
def test_apply_hand_computed_box() -> None:
    calibration = BoxCalibration(scale_x=0.8, scale_y=0.5, offset_x=0.1, offset_y=-0.05)
    # box 100 x 200 centred at (60, 120): centre -> (70, 110), size -> 80 x 100
    boxes = np.array([[10.0, 20.0, 110.0, 220.0, 0.7], [0.0, 0.0, 10.0, 10.0, 0.1]])
    out = calibration.apply(boxes)
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out[0], [30.0, 60.0, 110.0, 160.0])
    np.testing.assert_allclose(out[1], [2.0, 2.0, 10.0, 7.0])  # centre (6, 4.5), 8 x 5
    np.testing.assert_allclose(calibration.apply([10.0, 20.0, 110.0, 220.0]), out[:1])


def test_identity_and_bad_shapes() -> None:
    boxes = np.array([[3.0, 4.0, 30.0, 50.0]])
    np.testing.assert_allclose(IDENTITY.apply(boxes), boxes)
    for name in ("none", "boxes"):
        assert calibration_for(name) == IDENTITY
    with pytest.raises(HeatmarkError, match="shape"):
        IDENTITY.apply(np.zeros((2, 3)))


def test_iou() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0]])
    np.testing.assert_allclose(iou(a, b), [[50 / 150, 0.0, 1.0]])


# ---------------------------------------------------------------- fitting
TRUE = BoxCalibration(scale_x=0.83, scale_y=1.17, offset_x=0.04, offset_y=-0.12)


def detector_box(landmark_box: np.ndarray, calibration: BoxCalibration) -> np.ndarray:
    """The detector box that ``calibration`` maps onto ``landmark_box`` (its inverse)."""
    x0, y0, x1, y1 = landmark_box
    width, height = (x1 - x0) / calibration.scale_x, (y1 - y0) / calibration.scale_y
    cx = (x0 + x1) / 2 - calibration.offset_x * width
    cy = (y0 + y1) / 2 - calibration.offset_y * height
    return np.array([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2])


def synthetic_faces(count: int) -> list[Sample]:
    """Faces whose image's pixel value is the face's index (so a fake detector knows it)."""
    rng = np.random.default_rng(3)
    faces = []
    for index in range(count):
        size = rng.uniform(40, 120, size=2)
        corner = rng.uniform(20, 60, size=2)
        points = corner + rng.uniform(0, 1, size=(68, 2)) * size
        image = np.full((220, 220, 3), index, np.uint8)
        faces.append(Sample(points, FACE_68, image=image, source=f"face{index}"))
    return faces


class FakeDetector:
    """Returns the ``TRUE``-inverse of each face's landmark box, a high-scoring decoy far away,
    a few wrong-sized outliers and nothing for the last faces."""

    name = "fake"

    def __init__(self, faces: list[Sample], outliers: dict[int, float], empty: set[int]) -> None:
        self.faces, self.outliers, self.empty = faces, outliers, empty

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        index = int(rgb[0, 0, 0])
        if index in self.empty:
            return np.zeros((0, 5))
        box = detector_box(self.faces[index].landmark_box(), TRUE)
        if index in self.outliers:  # scaled about the centre: still overlaps enough to match
            centre, half = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) / 2
            box = np.concatenate(
                [centre - half * self.outliers[index], centre + half * self.outliers[index]]
            )
        decoy = [200.0, 200.0, 215.0, 215.0, 5.0]
        return np.array([decoy, [*box, 0.5]])


def test_fit_recovers_a_known_scale_and_offset() -> None:
    faces = synthetic_faces(25)
    outliers = {0: 1.3, 5: 0.85, 9: 1.2}  # < half of the matched faces: the medians ignore them
    detector = FakeDetector(faces, outliers, empty={23, 24})
    calibration, fitted = fit_calibration(detector, faces)
    for name in ("scale_x", "scale_y", "offset_x", "offset_y"):
        assert abs(getattr(calibration, name) - getattr(TRUE, name)) < 1e-9, name
    assert (fitted.detector, fitted.faces, fitted.matched, fitted.empty) == ("fake", 25, 23, 2)
    assert fitted.missed == 2
    assert fitted.detection_rate == pytest.approx(23 / 25)
    assert fitted.mean_iou_raw < 0.8 < fitted.mean_iou_calibrated < 1.0
    clean = evaluate_calibration(FakeDetector(faces, {}, set()), faces, calibration)
    assert clean.matched == 25 and clean.mean_iou_calibrated == pytest.approx(1.0, abs=1e-9)


def test_fit_without_any_match_is_a_clear_error() -> None:
    faces = synthetic_faces(3)
    with pytest.raises(HeatmarkError, match="no face was matched"):
        fit_calibration(lambda rgb: np.array([[200.0, 200.0, 210.0, 210.0]]), faces)
    with pytest.raises(HeatmarkError, match="no face was matched"):
        fit_boxes(np.array([[5.0, 5.0, 5.0, 9.0]]), np.array([[0.0, 0.0, 4.0, 4.0]]))


# ---------------------------------------------------------------- shipped calibrations
def test_shipped_calibrations_cover_yunet_hog_and_haar() -> None:
    shipped = load_calibrations()
    assert {"yunet", "hog", "haar"} <= set(shipped)
    for calibration in shipped.values():
        assert 0.5 < calibration.scale_x < 1.5 and 0.5 < calibration.scale_y < 1.5
        assert abs(calibration.offset_x) < 0.3 and abs(calibration.offset_y) < 0.3
    assert calibration_for("hog") == shipped["hog"]
    assert calibration_for("haar") != IDENTITY
    assert calibration_for("yunet") == shipped["yunet"] != IDENTITY
    assert calibration_for("yunet-onnx") == IDENTITY  # a user's model: not fitted
    with pytest.raises(HeatmarkError, match=r"python -m heatmark\.predict\.calibration"):
        calibration_for("yunet-onnx", strict=True)


def test_malformed_calibration_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{\n "schemes": {\n')
    with pytest.raises(DataError, match="invalid json") as caught:
        load_calibrations(broken)
    assert caught.value.path == broken and caught.value.line == 3
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"schemes": {"300w-68": {"hog": {"scale_x": 1.0}}}}))
    with pytest.raises(DataError, match="scale_y") as caught:
        load_calibrations(partial)
    assert caught.value.path == partial
    with pytest.raises(DataError, match="wflw-98"):
        load_calibrations(partial, scheme="wflw-98")
    with pytest.raises(DataError, match="not found"):
        load_calibrations(tmp_path / "absent.json")


def test_entry_point_reports_a_bad_data_path(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "calibrations.json"
    assert main(["--data", str(tmp_path / "absent"), "--out", str(out)]) == 1
    assert "absent" in capsys.readouterr().err
    assert not out.exists()


def test_shipped_hog_calibration_improves_iou_on_real_faces(shared) -> None:
    faces = load_dataset(shared("300w/afw"))[:10]
    report = evaluate_calibration(HogDetector(), faces, calibration_for("hog"))
    assert report.matched >= 7
    assert report.mean_iou_calibrated > report.mean_iou_raw + 0.02
