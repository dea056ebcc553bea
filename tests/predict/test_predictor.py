"""``Predictor``: detector boxes -> calibrated crops -> batched network -> points in the image."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from heatmark.data.geometry import box_crop_matrix
from heatmark.data.synthetic import synthetic_faces
from heatmark.errors import DataError, HeatmarkError
from heatmark.models.hourglass import StackedHourglass
from heatmark.models.landmark_model import LandmarkModel, ModelDescription
from heatmark.predict.calibration import BoxCalibration
from heatmark.predict.predictor import Predictor, load_rgb

DESCRIPTION = ModelDescription(
    scheme="300w-68", input_size=64, enlarge=1.25, heatmap_size=16, sigma=1.0
)


class Oracle(torch.nn.Module):
    """A 'network' whose heatmaps peak where the crop's pixels say: it renders Gaussians at
    points encoded in a side channel. Lets tests check geometry without training."""

    def __init__(self, points_in_input: torch.Tensor) -> None:
        super().__init__()
        self.points = points_in_input
        self.calls = 0
        self.batch_sizes: list[int] = []

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        self.calls += 1
        self.batch_sizes.append(len(images))
        codec = DESCRIPTION.codec()
        maps = codec.encode(self.points.expand(len(images), -1, -1).float())
        return [maps]


def tiny_model(seed: int = 0) -> LandmarkModel:
    torch.manual_seed(seed)
    network = StackedHourglass(68, 1, width=16, depth=2)
    return LandmarkModel(network, DESCRIPTION).eval()


def face_image() -> tuple[np.ndarray, np.ndarray]:
    sample = synthetic_faces(1, seed=3, size=96)[0]
    return sample.image, sample.points


def fixed_detector(box):
    return lambda rgb: np.array([[*box, 0.9]])


def grid_points() -> torch.Tensor:
    """68 points on heatmap pixel centres (u, v in 4..11), where GET_MAX decodes exactly:
    input x = (u + 0.5) * stride - 0.5 = 4u + 1.5."""
    i = torch.arange(68)
    u, v = 4 + i % 8, 4 + (i // 8) % 8
    return torch.stack([4.0 * u + 1.5, 4.0 * v + 1.5], dim=-1)[None].double()


def test_points_come_back_in_image_pixels() -> None:
    """Box (20, 30, 60, 50): square side 50 around (40, 40), 1.28 input px per image px, the
    box centre on input pixel 31.5. Input x = 33.5 is image x = 40 + 2 / 1.28 = 41.5625."""
    points = grid_points()
    model = LandmarkModel(Oracle(points.float()), DESCRIPTION)
    predictor = Predictor(model, detector=fixed_detector([20, 30, 60, 50]), refine=0)
    faces = predictor.predict(np.zeros((100, 120, 3), np.uint8))
    assert len(faces) == 1
    expected = 40.0 + (points[0].numpy() - 31.5) / 1.28
    np.testing.assert_allclose(faces[0].points, expected, atol=1e-9)
    assert faces[0].points[36].tolist() == [41.5625, 41.5625]  # input (33.5, 33.5)
    assert faces[0].detector_score == pytest.approx(0.9)
    np.testing.assert_allclose(faces[0].box, [20, 30, 60, 50])


def test_calibration_is_applied_and_refine_recrops_from_points() -> None:
    points = grid_points()
    oracle = Oracle(points.float())
    model = LandmarkModel(oracle, DESCRIPTION)
    shift = BoxCalibration(scale_x=1.0, scale_y=1.0, offset_x=0.25, offset_y=0.0)
    predictor = Predictor(
        model, detector=fixed_detector([20, 30, 60, 50]), calibration=shift, refine=2
    )
    faces = predictor.predict(np.zeros((100, 120, 3), np.uint8))
    # calibrated box: 10 px right (a quarter of the width 40); then twice from the points
    box = np.array([30.0, 30.0, 70.0, 50.0])
    for _ in range(3):
        inverse = np.linalg.inv(box_crop_matrix(box, 64, 1.25))
        expected = points[0].numpy() @ inverse[:2, :2].T + inverse[:2, 2]
        box = np.concatenate([expected.min(0), expected.max(0)])
    np.testing.assert_allclose(faces[0].points, expected, atol=1e-9)
    assert oracle.calls == 3  # first crop + 2 refinements


def test_all_faces_of_a_batch_share_forward_passes() -> None:
    model = tiny_model()
    counter = {"calls": 0, "sizes": []}
    network = model.network
    original = network.forward

    def counting(images):
        counter["calls"] += 1
        counter["sizes"].append(len(images))
        return original(images)

    network.forward = counting
    two_faces = lambda rgb: np.array([[10, 10, 40, 40, 0.9], [50, 50, 90, 90, 0.8]])  # noqa: E731
    predictor = Predictor(model, detector=two_faces, refine=0, batch_size=16)
    results = predictor.predict_batch([np.zeros((100, 100, 3), np.uint8)] * 3)
    assert [len(faces) for faces in results] == [2, 2, 2]
    assert counter["sizes"] == [6]  # 3 images x 2 faces in one forward pass
    counter["sizes"].clear()
    Predictor(model, detector=two_faces, refine=0, batch_size=4).predict_batch(
        [np.zeros((100, 100, 3), np.uint8)] * 3
    )
    assert counter["sizes"] == [4, 2]


def test_flip_averages_with_the_mirrored_crop() -> None:
    """On a mirror-symmetric face, flip TTA of a real network equals its plain output mirrored
    through the flip permutation; on any crop it is the mean of the two maps."""
    model = tiny_model()
    crops = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8)
    plain = model.heatmaps(crops)
    mirrored = model.heatmaps(crops.flip(-1))
    order = list(model.scheme.flip_permutation)
    expected = 0.5 * (plain + mirrored[:, order].flip(-1))
    torch.testing.assert_close(model.heatmaps(crops, flip=True), expected)


def test_no_face_gives_an_empty_list_and_inputs_of_every_kind(tmp_path: Path) -> None:
    model = tiny_model()
    nobody = Predictor(model, detector=lambda rgb: np.zeros((0, 5)))
    assert nobody.predict(np.zeros((50, 50, 3), np.uint8)) == []
    image, _ = face_image()
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    whole = Predictor(model, detector="none", refine=0)
    from_path = whole.predict(path)
    from_bytes = whole.predict(path.read_bytes())
    from_array = whole.predict(image)
    np.testing.assert_allclose(from_path[0].points, from_array[0].points)
    np.testing.assert_allclose(from_bytes[0].points, from_array[0].points)
    grey = whole.predict(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
    assert grey[0].points.shape == (68, 2)


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot decode image bytes"):
        load_rgb(b"not an image")
    with pytest.raises(DataError, match=r"missing\.jpg"):
        load_rgb(tmp_path / "missing.jpg")
    with pytest.raises(HeatmarkError, match="uint8"):
        load_rgb(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(HeatmarkError, match="refine"):
        Predictor(tiny_model(), detector="none", refine=-1)
    with pytest.raises(HeatmarkError, match="unknown face detector"):
        Predictor(tiny_model(), detector="mtcnn")


def test_onnx_backend_matches_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = tiny_model()
    image, _ = face_image()
    torch_faces = Predictor(model, detector="none", refine=1).predict(image)
    onnx_faces = Predictor(model, detector="none", refine=1, backend="onnx").predict(image)
    np.testing.assert_allclose(onnx_faces[0].points, torch_faces[0].points, atol=0.01)
    np.testing.assert_allclose(onnx_faces[0].scores, torch_faces[0].scores, atol=1e-4)
