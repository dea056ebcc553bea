"""``heatmark eval --checkpoint`` options that change what is scored: --flip, --visible-only
and --batch-size, with the shipped model on rendered faces and their mirror images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.synthetic import synthetic_faces
from heatmark.models.shipped import SHIPPED_STEM
from heatmark.schemes import FACE_68

runner = CliRunner()
SIZE = 128


@pytest.fixture(scope="module")
def gt(tmp_path_factory) -> Path:
    """4 rendered faces (two with 11 and 5 occluded points) and their horizontal mirror
    images, as a COCO keypoint json (v = 2 visible, 1 occluded: the rendered occluders and
    self-occlusions), 1-based like mmpose's face jsons (the reader's default)."""
    root = tmp_path_factory.mktemp("faces")
    images, annotations = [], []
    for i, face in enumerate(synthetic_faces(4, seed=23, size=SIZE)):
        mirrored = FACE_68.flip_points(face.points, SIZE)
        mirror_visible = face.visible[list(FACE_68.flip_permutation)]
        for j, (image, points, visible) in enumerate(
            (
                (face.image, face.points, face.visible),
                (face.image[:, ::-1], mirrored, mirror_visible),
            )
        ):
            index = 2 * i + j
            name = f"face{i}{'_mirror' if j else ''}.png"
            cv2.imwrite(
                str(root / name), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
            )
            flags = np.where(visible, 2, 1)
            keypoints = np.column_stack([points + 1, flags]).ravel().tolist()
            x0, y0 = points.min(0) + 1
            x1, y1 = points.max(0) + 1
            images.append({"id": index, "file_name": name, "height": SIZE, "width": SIZE})
            annotations.append(
                {
                    "id": index,
                    "image_id": index,
                    "category_id": 1,
                    "keypoints": keypoints,
                    "num_keypoints": 68,
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    "iscrowd": 0,
                }
            )
    document = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "face", "supercategory": "person"}],
    }
    (root / "faces.json").write_text(json.dumps(document))
    return root / "faces.json"


def _eval(gt: Path, out: Path, *options: str) -> tuple[dict, dict[str, np.ndarray]]:
    """(metrics, predicted points by image name) of the shipped model."""
    args = ["eval", "--checkpoint", str(SHIPPED_STEM), "--gt", str(gt), "--json"]
    result = runner.invoke(app, [*args, "--save-predictions", str(out), *options])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    points = {key: np.asarray(value) for key, value in saved["predictions"].items()}
    return json.loads(result.stdout), points


def _mirror_mismatch(points: dict[str, np.ndarray]) -> float:
    """Largest distance between a face's prediction and its mirror image's, mirrored back."""
    worst = 0.0
    for i in range(4):
        plain, mirror = points[f"face{i}"], points[f"face{i}_mirror"]
        back = FACE_68.flip_points(mirror, SIZE)
        worst = max(worst, float(np.linalg.norm(back - plain, axis=1).max()))
    return worst


def test_flip_makes_the_prediction_mirror_symmetric(gt: Path, tmp_path: Path) -> None:
    """With --flip each crop's heatmaps are averaged with its mirror image's, so a face and
    its mirror image get mirrored predictions (up to the rounding of the two crops to uint8);
    without it they need not."""
    _, plain = _eval(gt, tmp_path / "plain.json")
    flipped_metrics, flipped = _eval(gt, tmp_path / "flip.json", "--flip")
    assert _mirror_mismatch(flipped) < 0.1  # measured 0.03: the crops differ by rounding
    assert _mirror_mismatch(plain) > 1.0
    assert flipped_metrics["images"] == 8 and flipped_metrics["nme"] < 0.06


def test_visible_only_scores_the_visible_points_alone(gt: Path, tmp_path: Path) -> None:
    everything, points = _eval(gt, tmp_path / "all.json")
    visible, _ = _eval(gt, tmp_path / "visible.json", "--visible-only")
    document = json.loads(gt.read_text())
    nmes = {True: [], False: []}
    for image, annotation in zip(document["images"], document["annotations"], strict=True):
        values = np.asarray(annotation["keypoints"]).reshape(68, 3)
        truth, seen = values[:, :2] - 1, values[:, 2] == 2
        pred = points[Path(image["file_name"]).stem]
        errors = np.linalg.norm(pred - truth, axis=1) / np.linalg.norm(truth[36] - truth[45])
        nmes[False].append(errors.mean())
        nmes[True].append(errors[seen].mean())
    assert everything["nme"] == pytest.approx(np.mean(nmes[False]), rel=1e-5)
    assert visible["nme"] == pytest.approx(np.mean(nmes[True]), rel=1e-5)
    assert abs(visible["nme"] - everything["nme"]) > 1e-4  # some points are occluded


def test_batch_size_reaches_the_model_and_changes_nothing(
    gt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heatmark.evaluate import inference

    sizes: list[int] = []
    real = inference.predict_dataset

    def spy(*args, **kwargs):
        sizes.append(kwargs["batch_size"])
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "predict_dataset", spy)
    one, one_points = _eval(gt, tmp_path / "one.json", "--batch-size", "1")
    three, three_points = _eval(gt, tmp_path / "three.json", "--batch-size", "3")
    assert sizes == [1, 3]
    numbers = [k for k, v in one.items() if isinstance(v, float)]
    assert "nme" in numbers and one.keys() == three.keys()
    for key in numbers:  # float sums in batches of 1 or 3
        assert one[key] == pytest.approx(three[key], rel=1e-5), key
    for key, value in one_points.items():
        np.testing.assert_allclose(three_points[key], value, atol=1e-4)
    refused = runner.invoke(
        app, ["eval", "--checkpoint", str(SHIPPED_STEM), "--gt", str(gt), "--batch-size", "0"]
    )
    assert refused.exit_code != 0 and "--batch-size must be at least 1" in refused.output
