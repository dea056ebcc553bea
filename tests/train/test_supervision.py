"""Per-output supervision: target widths, weights, online hard keypoint mining, and the config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from pydantic import ValidationError

from heatmark import recipes
from heatmark.codec import HeatmapCodec
from heatmark.errors import ConfigError
from heatmark.losses import JensenShannonLoss, MSELoss, SoftArgmaxLoss, WassersteinLoss
from heatmark.reproduce.grid import CPN_SUPERVISION
from heatmark.train.config import SupervisionConfig, config_from_dict, load_config
from heatmark.train.supervision import Supervision
from heatmark.train.trainer import Trainer

CONFIGS = Path(recipes.__file__).parent  # the bundled recipes


def points_and_outputs(outputs: int = 2, k: int = 5, seed: int = 0):
    torch.manual_seed(seed)
    codec = HeatmapCodec(input_size=64, heatmap_size=16, sigma=1.0)
    points = torch.rand(3, k, 2) * 50 + 6
    maps = [torch.rand(3, k, 16, 16, requires_grad=True) for _ in range(outputs)]
    return codec, points, maps


def test_defaults_sum_the_loss_over_the_outputs() -> None:
    codec, points, maps = points_and_outputs()
    loss = MSELoss()
    target = codec.encode(points)
    expected = sum(loss(m, target, codec.to_heatmap(points)) for m in maps)
    assert torch.allclose(Supervision(loss, codec)(maps, points, None), expected)


def test_scales_and_weights_pick_each_outputs_target() -> None:
    codec, points, maps = points_and_outputs()
    loss = MSELoss()
    wide = HeatmapCodec(input_size=64, heatmap_size=16, sigma=2.0).encode(points)
    expected = 0.25 * loss(maps[0], wide) + 2.0 * loss(maps[1], codec.encode(points))
    got = Supervision(loss, codec, sigma_scales=(2.0, 1.0), weights=(0.25, 2.0))(maps, points, None)
    assert torch.allclose(got, expected)


@pytest.mark.parametrize(
    "loss", [MSELoss(), JensenShannonLoss(), SoftArgmaxLoss(), WassersteinLoss(max_iterations=20)]
)
def test_per_map_losses_average_to_the_loss(loss) -> None:
    codec, points, maps = points_and_outputs(outputs=1)
    target, hm = codec.encode(points), codec.to_heatmap(points)
    per_map = loss.per_map(maps[0], target, hm)
    assert per_map.shape == (3, 5)
    assert torch.allclose(per_map.mean(), loss(maps[0], target, hm), rtol=1e-5)


def test_hard_keypoints_average_each_images_largest_losses_only() -> None:
    codec, points, maps = points_and_outputs(outputs=1)
    loss = MSELoss()
    per_map = loss.per_map(maps[0], codec.encode(points))
    expected = per_map.topk(2, dim=1).values.mean()
    got = Supervision(loss, codec, hard_keypoints=2)(maps, points, None)
    assert torch.allclose(got, expected)
    got.backward()  # only the two hardest maps of each image get a gradient
    touched = maps[0].grad.flatten(2).abs().sum(-1) > 0
    assert touched.sum(1).tolist() == [2, 2, 2]


def test_hard_keypoints_skip_masked_landmarks() -> None:
    codec, points, maps = points_and_outputs(outputs=1)
    loss = MSELoss()
    per_map = loss.per_map(maps[0], codec.encode(points))
    mask = torch.ones(3, 5)
    hardest = per_map.argmax(1)
    mask[torch.arange(3), hardest] = 0  # leave the hardest out: the next two count
    mask[2] = (
        torch.tensor([1.0, 0, 0, 0, 0]) if hardest[2] != 0 else torch.tensor([0, 1.0, 0, 0, 0])
    )
    got = Supervision(loss, codec, hard_keypoints=2)(maps, points, mask)
    kept = torch.where(mask > 0, per_map, torch.tensor(float("-inf")))
    first_two = kept[:2].topk(2, dim=1).values.mean(1)
    only = per_map[2][mask[2] > 0]
    assert torch.allclose(got, torch.cat([first_two, only]).mean())


def test_the_boundary_channel_counts_as_one_more_map_under_mining() -> None:
    codec = HeatmapCodec(input_size=64, heatmap_size=16, sigma=1.0)
    torch.manual_seed(1)
    points = torch.rand(2, 4, 2) * 50 + 6
    pred = torch.rand(2, 5, 16, 16)  # 4 landmarks + a boundary-like extra channel
    target = torch.cat([codec.encode(points), torch.rand(2, 1, 16, 16)], 1)
    loss = MSELoss()
    per_map = loss.per_map(pred, target)
    expected = ((per_map[:, :4].topk(3, dim=1).values.sum(1) + per_map[:, 4]) / 4).mean()
    supervision = Supervision(loss, codec, hard_keypoints=3)
    got = supervision._hardest(pred, target, codec.to_heatmap(points), None)
    assert torch.allclose(got, expected)


def test_a_list_that_does_not_match_the_outputs_is_a_config_error() -> None:
    codec, points, maps = points_and_outputs(outputs=2)
    supervision = Supervision(MSELoss(), codec, sigma_scales=(1.0, 1.2, 1.4))
    with pytest.raises(ConfigError, match=r"sigma_scales has 3 entries.*returns 2 outputs"):
        supervision(maps, points, None)
    with pytest.raises(ConfigError, match=r"hard_keypoints is 9.*only 5 landmarks"):
        Supervision(MSELoss(), codec, hard_keypoints=9, num_points=5)


def test_bad_supervision_values_are_rejected_by_the_config() -> None:
    with pytest.raises(ValidationError, match="sigma scale"):
        SupervisionConfig(sigma_scales=(1.0, 0.0))
    with pytest.raises(ValidationError, match="weights"):
        SupervisionConfig(weights=(0.0, 0.0))
    with pytest.raises(ValidationError):
        SupervisionConfig(hard_keypoints=0)
    config = config_from_dict({"train": {"supervision": {"hard_keypoints": 8}}})
    assert config.train.supervision.hard_keypoints == 8


def test_the_cpn_configs_carry_cpns_released_supervision() -> None:
    for name in ("cpn_300w.yaml", "cpu_cpn_300w.yaml"):
        supervision = load_config(CONFIGS / name).train.supervision
        assert len(supervision.sigma_scales) == len(supervision.weights) == 5
        assert supervision.weights[:4] == (0.125,) * 4 and supervision.weights[4] == 1
        assert supervision.sigma_scales[-1] == 1 and supervision.hard_keypoints == 32


def test_a_cpn_trains_with_its_released_supervision(tmp_path: Path, tiny_faces) -> None:
    """CPN's five outputs, wider GlobalNet targets, OHKM: the trainer runs an epoch, the loss is
    finite and the mined loss is what the first step's loss is made of."""
    model = {"architecture": "cpn", "depth": 10, "width": 8, "channels": 16}
    config = tiny_config(
        tmp_path,
        schedule={"epochs": 1, "milestones": []},
        train={"supervision": {**CPN_SUPERVISION, "hard_keypoints": 20}},
    )
    config = config_from_dict({**config.model_dump(mode="json"), "model": model})
    trainer = Trainer(config, tiny_faces)
    assert trainer.supervision.hard_keypoints == 20
    assert trainer.supervision.codec_for(1.86).sigma == pytest.approx(1.86)
    result = trainer.fit()
    assert result.losses and all(torch.isfinite(torch.tensor(result.losses)))
