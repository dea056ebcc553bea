"""PCK@0.2 of body schemes (LSP): hand-computed cases, invisible joints, images without a torso
size, the per-part table, the scheme's default normaliser and the ``heatmark eval`` output."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from typer.testing import CliRunner

from heatmark.cli import app
from heatmark.data.readers.lsp import read_lsp
from heatmark.data.sample import Sample
from heatmark.errors import DataError
from heatmark.evaluate.evaluation import evaluate_samples
from heatmark.evaluate.metrics import (
    Normaliser,
    body_parts,
    check_normaliser,
    default_normaliser,
    pck,
    pck_landmarks,
    pck_parts,
)
from heatmark.evaluate.prediction_file import write_prediction_json
from heatmark.evaluate.report import evaluation_markdown
from heatmark.schemes import AFLW_19, FACE_68, LSP_14

runner = CliRunner()
NAMES = LSP_14.point_names
INDEX = {name: i for i, name in enumerate(NAMES)}


def body(torso: float = 10.0) -> np.ndarray:
    """(14, 2) distinct joints whose torso pair (``LSP_14.torso``) is ``torso`` px apart."""
    points = np.stack([np.arange(14) * 7.0 + 20.0, np.arange(14) % 5 * 11.0 + 30.0], axis=1)
    a, b = LSP_14.torso
    points[a] = [40.0, 40.0]
    points[b] = points[a] + np.array([0.6, 0.8]) * torso  # exactly ``torso`` apart
    return points


def sample(points: np.ndarray, visible: np.ndarray | None = None, name: str = "x") -> Sample:
    return Sample(points=points, scheme=LSP_14, visible=visible, subset="train", source=name)


def test_pck_by_hand_boundary_included_and_nan_ignored() -> None:
    errors = np.array(
        [
            [0.2, 0.2000001, 0.0, np.nan],
            [0.1, 0.5, np.nan, np.nan],
            [0.3, 0.1, 0.19, np.nan],
        ]
    )
    # per landmark: 2/3 (0.2 counts), 1/3, 2/2, none
    np.testing.assert_allclose(pck_landmarks(errors), [2 / 3, 1 / 3, 1.0, np.nan])
    assert pck(errors) == pytest.approx(5 / 8)  # pooled over the 8 valid errors
    parts = pck_parts(errors, {"a": (0, 1), "b": (2, 3), "c": (3,)})
    assert parts["a"] == pytest.approx(0.5)  # mean of the two joints, not pooled
    assert parts["b"] == pytest.approx(1.0)  # the never-scored joint is ignored
    assert np.isnan(parts["c"])
    assert np.isnan(pck(np.full((2, 2), np.nan)))


def test_body_parts_pair_left_and_right_and_head_with_neck() -> None:
    parts = body_parts(LSP_14)
    assert list(parts) == ["head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"]
    assert parts["head"] == (INDEX["head_top"], INDEX["neck"])
    assert parts["wrist"] == (INDEX["right_wrist"], INDEX["left_wrist"])
    assert sorted(i for joints in parts.values() for i in joints) == list(range(14))
    for part, joints in parts.items():  # each part is a mirror pair (or on the symmetry axis)
        if part != "head":
            assert LSP_14.flip_permutation[joints[0]] == joints[1]
    assert body_parts(FACE_68) == {}


def test_default_normaliser_follows_the_scheme() -> None:
    assert default_normaliser(LSP_14) is Normaliser.TORSO
    assert default_normaliser(FACE_68) is Normaliser.INTER_OCULAR
    assert default_normaliser(AFLW_19) is Normaliser.BOX
    with pytest.raises(ValueError, match="inter-ocular normaliser is undefined for the lsp-14"):
        check_normaliser(LSP_14, Normaliser.INTER_OCULAR)
    with pytest.raises(ValueError, match="use inter-ocular"):
        check_normaliser(FACE_68, Normaliser.TORSO)


def test_lsp_evaluation_by_hand() -> None:
    """Two scored images (torso 10 px), one with an invisible joint; two left out: a torso
    joint invisible (its placeholder would give a huge torso) and a zero torso size."""
    a, b = LSP_14.torso
    gts = [body(), body(), body(), body()]
    visible = [np.ones(14, bool) for _ in gts]
    visible[1][INDEX["left_ankle"]] = False
    gts[1][INDEX["left_ankle"]] = [-1.0, -1.0]  # placeholder
    visible[2][b] = False
    gts[2][b] = [-1.0, 500.0]  # placeholder torso joint: no torso size
    gts[3][b] = gts[3][a]  # both visible, zero torso size
    samples = [sample(g, v, f"im{i}") for i, (g, v) in enumerate(zip(gts, visible, strict=True))]

    pred = np.stack(gts).copy()
    pred[0, INDEX["right_wrist"]] += [2.0, 0.0]  # error exactly 0.2: correct
    pred[0, INDEX["left_wrist"]] += [0.0, 2.01]  # just over: wrong
    pred[1, INDEX["right_wrist"]] += [30.0, 0.0]  # wrong
    pred[1, INDEX["left_ankle"]] += [500.0, 0.0]  # invisible: never scored
    pred[2:] += 1000.0  # left out: would be wrong everywhere

    evaluation = evaluate_samples(pred, samples)  # normaliser: from the scheme (torso)
    assert evaluation.normaliser is Normaliser.TORSO
    assert evaluation.count == 2 and evaluation.left_out == 2
    assert int(np.sum(~np.isnan(evaluation.errors))) == 27  # 28 joints, one invisible
    assert evaluation.pck == pytest.approx(25 / 27)
    parts = evaluation.pck_parts
    assert parts["wrist"] == pytest.approx(0.5)  # right and left each correct 1 of 2
    assert parts["ankle"] == pytest.approx(1.0)  # left ankle scored once, correct
    assert parts["head"] == pytest.approx(1.0)
    assert evaluation.errors[0, INDEX["right_wrist"]] == pytest.approx(0.2)
    assert evaluation.torso == (NAMES[a], NAMES[b])

    payload = evaluation.to_dict()
    assert payload["normaliser"] == "torso" and payload["left_out"] == 2
    assert payload["pck"]["threshold"] == 0.2
    assert payload["pck"]["mean"] == pytest.approx(25 / 27)
    assert payload["pck"]["parts"]["elbow"] == pytest.approx(1.0)
    assert payload["pck"]["joints"]["left_wrist"] == pytest.approx(0.5)
    assert payload["pck"]["joints_scored"] == 27
    json.dumps(payload, allow_nan=False)
    text = evaluation_markdown(evaluation)
    assert "| Head | Sho. | Elb. | Wri. | Hip | Knee | Ank. | Mean | joints |" in text
    assert "2 images left out" in text


def test_invisible_joints_are_never_scored_and_no_torso_at_all_is_an_error() -> None:
    gt = body()
    visible = np.ones(14, bool)
    visible[0] = False
    evaluation = evaluate_samples(gt[None] + [[[0.0, 0.0]]], [sample(gt, visible)])
    assert np.isnan(evaluation.errors[0, 0]) and evaluation.pck == 1.0
    hidden = visible.copy()
    hidden[LSP_14.torso[0]] = False
    with pytest.raises(DataError, match="no image of these 1 has a torso size"):
        evaluate_samples(gt[None], [sample(gt, hidden)])
    with pytest.raises(ValueError, match="undefined for the lsp-14"):
        evaluate_samples(gt[None], [sample(gt, visible)], Normaliser.INTER_OCULAR)


def test_faces_get_no_pck_and_keep_their_behaviour() -> None:
    rng = np.random.default_rng(0)
    gt = rng.uniform(0, 100, size=(68, 2))
    gt[36], gt[45] = [20, 40], [70, 40]
    face = Sample(points=gt, scheme=FACE_68)
    evaluation = evaluate_samples(gt[None] + [5.0, 0.0], [face])
    assert evaluation.normaliser is Normaliser.INTER_OCULAR
    assert evaluation.nme == pytest.approx(0.1)
    assert not evaluation.has_pck and "pck" not in evaluation.to_dict()
    assert "left_out" not in evaluation.to_dict()


def test_body_crop_box_ignores_invisible_placeholders() -> None:
    gt = body()
    visible = np.ones(14, bool)
    visible[0] = False
    gt[0] = [-300.0, -1.0]
    np.testing.assert_allclose(
        sample(gt, visible).landmark_box(), [*gt[1:].min(axis=0), *gt[1:].max(axis=0)]
    )


def write_lsp(root: Path, joints: np.ndarray, size: tuple[int, int] = (120, 160)) -> Path:
    """An LSP-extended folder: ``joints`` (N, 14, 3) 0-based x, y, visible -> joints.mat."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(len(joints)):
        image = rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / f"im{index + 1:05d}.jpg"), image)
    stored = joints.copy()
    stored[:, :, :2] += 1  # 1-based in the file
    scipy.io.savemat(str(root / "joints.mat"), {"joints": np.transpose(stored, (1, 2, 0))})
    return root / "joints.mat"


def test_eval_cli_reports_pck_for_bodies_in_text_and_json(tmp_path: Path) -> None:
    joints = np.zeros((3, 14, 3))
    for index in range(3):
        joints[index, :, :2] = body()
        joints[index, :, 2] = 1
    joints[2, LSP_14.torso[1]] = [-1.0, -1.0, 0]  # no torso size: left out
    gt = write_lsp(tmp_path / "lsp", joints)
    samples = read_lsp(gt)
    pred = np.stack([s.points for s in samples])
    pred[0, INDEX["left_knee"]] += [3.0, 0.0]  # 0.3 torso: wrong
    write_prediction_json(tmp_path / "pred.json", samples, pred, root=gt)

    result = runner.invoke(app, ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(gt)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # captions wrap at the terminal width
    assert "NME normalised by torso distance" in text
    assert "PCK@0.2" in text and "Knee" in text and "75.0" in text
    assert "1 image left out" in text

    result = runner.invoke(
        app, ["eval", "--pred", str(tmp_path / "pred.json"), "--gt", str(gt), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["normaliser"] == "torso" and payload["left_out"] == 1
    assert payload["images"] == 2
    assert payload["pck"]["parts"]["knee"] == pytest.approx(0.75)  # left knee 1/2, right 2/2
    assert payload["pck"]["mean"] == pytest.approx(27 / 28)
