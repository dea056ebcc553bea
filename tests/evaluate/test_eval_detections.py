"""``heatmark eval`` on ``heatmark predict`` output: faces matched by box overlap, misses fail."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.evaluate.detections import box_iou
from heatmark.predict.faces import Face
from heatmark.predict.output import ImageRecord, write_json

runner = CliRunner()


def _truth(root: Path, count: int) -> list[np.ndarray]:
    """``count`` 300-W style faces in ``root/afw`` (inter-ocular distance 50)."""
    rng = np.random.default_rng(1)
    folder = root / "afw"
    folder.mkdir(parents=True)
    truths = []
    for i in range(count):
        cv2.imwrite(str(folder / f"img{i}.jpg"), np.zeros((120, 120, 3), np.uint8))
        pts = rng.uniform(20, 100, size=(68, 2))
        pts[36], pts[45] = [30, 50], [80, 50]
        lines = ["version: 1", "n_points: 68", "{"] + [f"{x + 1:.6f} {y + 1:.6f}" for x, y in pts]
        (folder / f"img{i}.pts").write_text("\n".join([*lines, "}"]) + "\n")
        truths.append(pts)
    return truths


def _face(points: np.ndarray) -> Face:
    box = np.concatenate([points.min(0), points.max(0)])
    return Face(points, np.ones(len(points)), box, detector_score=0.9)


def test_box_iou_hand_computed() -> None:
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[50 / 150, 0.0]])


def test_missed_faces_fail_everywhere_and_nme_is_over_matched(tmp_path: Path) -> None:
    truths = _truth(tmp_path / "gt", 4)
    far = truths[3] + 500.0  # a detection elsewhere in the picture: not this face
    records = [
        ImageRecord("afw/img0", "img0.jpg", (120, 120), [_face(truths[0] + [4.0, 0.0])]),
        ImageRecord("afw/img1", "img1.jpg", (120, 120), [_face(truths[1])]),
        ImageRecord("afw/img2", "img2.jpg", (120, 120), []),  # nothing found
        ImageRecord("afw/img3", "img3.jpg", (120, 120), [_face(far)]),
    ]
    write_json(tmp_path / "pred.json", records, {"scheme": "300w-68"})
    result = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt"), "--json"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["images"] == 4 and metrics["detection_rate"] == pytest.approx(0.5)
    assert metrics["nme"] == pytest.approx(0.04, abs=1e-5)  # (0.08 + 0) / 2 matched faces
    assert metrics["fr_images"] == pytest.approx(0.5)  # the two misses
    assert metrics["auc_images"] == pytest.approx((0.2 + 1.0 + 0.0 + 0.0) / 4, abs=1e-4)
    table = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt")]
    )
    assert "detected %" in table.stdout and "50.00" in table.stdout
    assert "2 of 4 detected" in table.output


def test_two_faces_in_one_image_are_matched_one_to_one(tmp_path: Path) -> None:
    truths = _truth(tmp_path / "gt", 1)
    records = [
        ImageRecord(
            "afw/img0",
            "img0.jpg",
            (120, 120),
            [_face(truths[0] + 300.0), _face(truths[0] + [0.0, 2.5])],  # wrong face first
        )
    ]
    write_json(tmp_path / "pred.json", records, {})
    result = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt"), "--json"]
    )
    metrics = json.loads(result.stdout)
    assert metrics["detection_rate"] == 1.0 and metrics["nme"] == pytest.approx(0.05, abs=1e-6)


def test_detections_for_another_dataset_are_refused(tmp_path: Path) -> None:
    _truth(tmp_path / "gt", 2)
    records = [ImageRecord("other/x", "x.jpg", (10, 10), [])]
    write_json(tmp_path / "pred.json", records, {})
    result = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt")]
    )
    assert result.exit_code == 1
    assert "pred.json" in result.output and "no entry for image 'afw/img0'" in result.output
