"""Heatmap losses: published values, continuity/smoothness of AWing, finite gradients."""

import math

import pytest
import torch

from heatmark.codec import HeatmapCodec, dilated_weight_map, heatmap_weight_map
from heatmark.losses.adaptive_wing import AdaptiveWingLoss
from heatmark.losses.distribution import JensenShannonLoss, SoftArgmaxLoss
from heatmark.losses.pixel import L1Loss, MSELoss
from heatmark.losses.wing import WingLoss


def test_adaptive_wing_mmpose_vector() -> None:
    """mmpose tests/test_models/test_losses/test_heatmap_losses.py: pred 1, target 0 -> 8.4959."""
    loss = AdaptiveWingLoss()
    value = loss(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2))
    assert value.item() == pytest.approx(8.4959, abs=1e-4)
    assert loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)).item() == pytest.approx(0.0)


@pytest.mark.parametrize("y", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_adaptive_wing_is_continuous_and_smooth_at_theta(y: float) -> None:
    loss = AdaptiveWingLoss()
    h = 1e-8

    def f(d: float) -> torch.Tensor:
        pred = torch.tensor([[[[y + d]]]], dtype=torch.float64, requires_grad=True)
        out = loss.pixel_loss(pred, torch.tensor([[[[y]]]], dtype=torch.float64))
        (grad,) = torch.autograd.grad(out.sum(), pred)
        return torch.stack([out.sum().detach(), grad.sum()])

    below, above = f(0.5 - h), f(0.5 + h)
    assert abs(below[0] - above[0]) < 1e-6  # value continuous (slope ~11, step 2e-8)
    assert abs(below[1] - above[1]) < 1e-5  # first derivative continuous
    assert abs(below[1]) > 1.0  # a real slope, not a flat spot
    # and the large branch really is linear with slope A
    far1, far2 = f(2.0), f(3.0)
    assert far2[0] - far1[0] == pytest.approx(float(far1[1]), rel=1e-9)


def test_adaptive_wing_shape_adapts_to_target() -> None:
    """Near the peak (y = 1) small errors cost more than on the background (y = 0)."""
    loss = AdaptiveWingLoss()
    d = torch.tensor([[[[0.05]]]])
    on_peak = loss.pixel_loss(1 - d, torch.ones(1, 1, 1, 1)).item()
    on_background = loss.pixel_loss(d, torch.zeros(1, 1, 1, 1)).item()
    assert on_peak > 3 * on_background


def test_wing_loss_values() -> None:
    loss = WingLoss(omega=10, epsilon=2)
    small = loss(torch.tensor([[[[1.0]]]]), torch.zeros(1, 1, 1, 1)).item()
    assert small == pytest.approx(10 * math.log(1.5))
    c = 10 - 10 * math.log(6)
    large = loss(torch.tensor([[[[12.0]]]]), torch.zeros(1, 1, 1, 1)).item()
    assert large == pytest.approx(12 - c)


def test_pixel_losses_and_weight_maps() -> None:
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 1, 1] = 1.0
    pred = torch.full_like(target, 0.5)
    assert MSELoss()(pred, target).item() == pytest.approx((15 * 0.25 + 0.25) / 16)
    assert L1Loss()(pred, target).item() == pytest.approx(0.5)
    weighted = MSELoss(weight_map=dilated_weight_map)(pred, target).item()
    # 9 pixels in the dilated neighbourhood weigh 11, the other 7 weigh 1
    assert weighted == pytest.approx(0.25 * (9 * 11 + 7) / 16)
    baseline = L1Loss(weight_map=heatmap_weight_map)(pred, target).item()
    assert baseline == pytest.approx(0.5 * (15 + 11) / 16)
    with pytest.raises(ValueError, match="differ"):
        MSELoss()(pred, torch.zeros(1, 1, 4, 5))


def test_distribution_losses() -> None:
    codec = HeatmapCodec(64, 16, sigma=1.5)
    points = torch.tensor([[[20.0, 30.0], [36.0, 40.0]]])  # away from the border
    target = codec.encode(points)
    logits = target.clamp_min(1e-12).log()
    jsd = JensenShannonLoss()
    assert jsd(logits, target).item() == pytest.approx(0.0, abs=1e-5)
    assert 0 < jsd(torch.zeros_like(target), target).item() <= 1.0
    with pytest.raises(ValueError, match="all zero"):
        jsd(logits, torch.zeros_like(target))
    soft = SoftArgmaxLoss(beta=1.0)
    hm_points = codec.to_heatmap(points)
    assert soft(logits, target, hm_points).item() < 0.01
    assert soft(torch.zeros_like(target), target, hm_points).item() > 1.0
    with pytest.raises(ValueError, match="points"):
        soft(logits, target)


@pytest.mark.parametrize(
    "loss",
    [
        MSELoss(),
        L1Loss(),
        WingLoss(),
        AdaptiveWingLoss(),
        AdaptiveWingLoss(weight_map=dilated_weight_map),
        JensenShannonLoss(),
        SoftArgmaxLoss(),
    ],
    ids=lambda m: type(m).__name__,
)
def test_finite_gradients_on_random_input(loss: torch.nn.Module) -> None:
    torch.manual_seed(0)
    pred = (torch.randn(2, 5, 16, 16) * 3).requires_grad_()
    target = torch.rand(2, 5, 16, 16)
    points = torch.rand(2, 5, 2) * 15
    value = loss(pred, target, points)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0
    # exact zero error must also have finite gradients (|x|^p at 0)
    exact = target.clone().requires_grad_()
    loss(exact, target, points).backward()
    assert torch.isfinite(exact.grad).all()
