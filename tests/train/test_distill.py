"""Distillation (``train.distill``): the teacher's maps keep the crop's geometry across input
and map sizes, the loss mixes the two targets as documented, and a run learns from a
checkpoint without changing it."""

from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from torch import nn

from heatmark.codec import Decoding, HeatmapCodec
from heatmark.errors import ConfigError
from heatmark.losses.adaptive_wing import AdaptiveWingLoss
from heatmark.models.checkpoint import load_landmark_model, read_metadata
from heatmark.models.config import MobileConfig
from heatmark.models.landmark_model import LandmarkModel, ModelDescription
from heatmark.train.distill import Teacher
from heatmark.train.supervision import Supervision
from heatmark.train.trainer import Trainer

TEACHER = ModelDescription("300w-68", input_size=128, enlarge=1.25, heatmap_size=32, sigma=1.0)
STUDENT = ModelDescription("300w-68", input_size=96, enlarge=1.25, heatmap_size=24, sigma=0.75)


class _Renders(nn.Module):
    """A stand-in network: Gaussians at fixed input-pixel points, whatever the image."""

    def __init__(self, codec: HeatmapCodec, points: torch.Tensor) -> None:
        super().__init__()
        self.maps = codec.encode(points[None])

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        return [self.maps.expand(image.shape[0], -1, -1, -1)]


def _teacher_at(points: torch.Tensor, description: ModelDescription = TEACHER) -> LandmarkModel:
    return LandmarkModel(_Renders(description.codec(), points), description)


def test_teacher_maps_keep_the_crop_geometry() -> None:
    generator = torch.Generator().manual_seed(0)
    points = 20 + 88 * torch.rand(68, 2, generator=generator)  # teacher input pixels
    teacher = Teacher(_teacher_at(points), STUDENT, torch.device("cpu"))
    maps = teacher.maps(torch.zeros(2, 3, 96, 96))
    assert maps.shape == (2, 68, 24, 24)
    decoded, _ = STUDENT.codec().decode(maps, 68, Decoding.GET_BC, softmax=False)
    # the same fraction of the crop: pixel centres at (x + 0.5) / size
    expected = (points + 0.5) * 96 / 128 - 0.5
    error = (decoded - expected).norm(dim=-1)
    # student input pixels: measured 0.014; corner-aligned resizing (the usual mistake) is off
    # by 0.46, an antialiased one by 0.11
    assert float(error.max()) < 0.05, float(error.max())


def test_the_loss_mixes_ground_truth_and_teacher() -> None:
    codec = STUDENT.codec()
    generator = torch.Generator().manual_seed(1)
    points = 10 + 70 * torch.rand(2, 68, 2, generator=generator)
    out = [torch.rand(2, 68, 24, 24, generator=generator)]
    plain = Supervision(AdaptiveWingLoss(), codec)(out, points, None)
    target = codec.encode(points)
    same = Supervision(AdaptiveWingLoss(), codec, distill_weight=0.3)
    assert float(same(out, points, None, target)) == pytest.approx(float(plain), rel=1e-6)
    zeros = torch.zeros_like(target)
    only_teacher = Supervision(AdaptiveWingLoss(), codec, distill_weight=1.0)
    expected = AdaptiveWingLoss()(out[0], zeros, codec.to_heatmap(points))
    assert float(only_teacher(out, points, None, zeros)) == pytest.approx(float(expected))
    half = Supervision(AdaptiveWingLoss(), codec, distill_weight=0.5)(out, points, None, zeros)
    assert float(half) == pytest.approx(0.5 * float(plain) + 0.5 * float(expected), rel=1e-6)
    with pytest.raises(ValueError, match="teacher"):
        half_without = Supervision(AdaptiveWingLoss(), codec, distill_weight=0.5)
        half_without(out, points, None)


def test_the_teacher_must_crop_alike() -> None:
    points = torch.full((68, 2), 64.0)
    wider = ModelDescription("300w-68", 128, 1.4, 32, 1.0)
    with pytest.raises(ConfigError, match="enlarge"):
        Teacher(_teacher_at(points, wider), STUDENT, torch.device("cpu"))
    body = ModelDescription("lsp-14", 128, 1.25, 32, 1.0)
    with pytest.raises(ConfigError, match="scheme"):
        Teacher(_teacher_at(points[:14], body), STUDENT, torch.device("cpu"))


def test_a_run_learns_from_a_teacher_checkpoint(tmp_path: Path, tiny_faces) -> None:
    Trainer(tiny_config(tmp_path / "teacher"), tiny_faces).fit()
    teacher_path = tmp_path / "teacher" / "runs" / "tiny" / "best"
    before = load_landmark_model(teacher_path).network.state_dict()
    student = tiny_config(
        tmp_path / "student", train={"distill": {"teacher": str(teacher_path), "weight": 0.5}}
    ).model_copy(update={"model": MobileConfig(widths=(8, 16, 16, 24, 24), blocks=(1, 1, 1, 1))})
    result = Trainer(student, tiny_faces).fit()
    assert result.losses and all(loss == loss for loss in result.losses)  # finite, not NaN
    meta = read_metadata(tmp_path / "student" / "runs" / "tiny" / "last")
    assert meta["config"]["train"]["distill"]["teacher"] == str(teacher_path)
    after = load_landmark_model(teacher_path).network.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    missing = tiny_config(tmp_path / "x", train={"distill": {"teacher": str(tmp_path / "no")}})
    with pytest.raises(ConfigError, match=r"train\.distill\.teacher"):
        Trainer(missing, tiny_faces)
