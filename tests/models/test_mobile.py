"""The fast model's network (``heatmark.models.mobile``): shapes, the input-size rule, its config
section, a start near zero maps, and an ONNX export that agrees with torch."""

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from heatmark.codec import Decoding
from heatmark.export import OnnxLandmarkModel, export_onnx
from heatmark.models.config import MobileConfig, build_network
from heatmark.models.landmark_model import ModelDescription
from heatmark.models.mobile import MobileHeatmapNet, SeparableConv


def test_maps_are_a_quarter_of_the_input_with_one_channel_per_point() -> None:
    net = MobileHeatmapNet(68).eval()
    outputs = net(torch.rand(2, 3, 96, 96))
    assert len(outputs) == 1 and outputs[0].shape == (2, 68, 24, 24)
    assert net(torch.rand(1, 3, 64, 64))[0].shape == (1, 68, 16, 16)
    with pytest.raises(ValueError, match="divisible by 32"):
        net(torch.rand(1, 3, 80, 80))


def test_it_starts_near_zero_maps_and_residual_blocks_start_as_the_identity() -> None:
    torch.manual_seed(0)
    net = MobileHeatmapNet(68).eval()
    with torch.no_grad():
        maps = net(torch.rand(4, 3, 96, 96))[0]
    assert float(maps.abs().max()) < 0.05  # like the targets' background: training starts there
    block = SeparableConv(8, 8).eval()
    x = torch.rand(1, 8, 6, 6)
    torch.testing.assert_close(block(x), x)
    # linear bottleneck: a residual branch can lower activations too (a ReLU there stalled
    # the first student near 9% NME)
    with torch.no_grad():
        block.pointwise.norm.weight.fill_(1.0)
        block.pointwise.norm.bias.fill_(-5.0)
    assert (block(x) < x).all()
    assert not SeparableConv(8, 16).residual and not SeparableConv(8, 8, stride=2).residual


def test_the_config_section_builds_it_and_checks_its_lists() -> None:
    config = MobileConfig(widths=(8, 16, 16, 24), blocks=(1, 1, 2))
    net = build_network(config, 68, boundary=True)
    assert isinstance(net, MobileHeatmapNet)
    assert net(torch.rand(1, 3, 64, 64))[0].shape == (1, 69, 16, 16)  # + boundary channel
    assert "16-16" in config.label
    with pytest.raises(ValidationError, match="one entry more"):
        MobileConfig(widths=(8, 16, 16), blocks=(1, 1, 1))


def test_the_onnx_export_gives_torchs_points(tmp_path) -> None:
    torch.manual_seed(0)
    net = MobileHeatmapNet(68).eval()
    with torch.no_grad():  # peaked maps, not the near-zero start: points worth comparing
        net.head.weight.normal_(std=0.5)
    description = ModelDescription("300w-68", 96, 1.25, 24, 0.75, decoding=Decoding.GET_BC)
    codec = description.codec()
    path = export_onnx(
        net,
        codec,
        description.landmark_scheme,
        tmp_path / "m.onnx",
        enlarge=1.25,
        decode=Decoding.GET_BC,
        softmax=False,
        temperature=1.0,
    )
    crops = np.random.default_rng(0).integers(0, 256, (3, 3, 96, 96), dtype=np.uint8)
    points, _ = OnnxLandmarkModel(path).points(crops)
    with torch.no_grad():
        maps = net(torch.from_numpy(crops).float() / 255)[0]
    expected, _ = codec.decode(maps, 68, Decoding.GET_BC, softmax=False)
    difference = np.abs(points - expected.numpy())
    # float rounding; a point decoded off the crop (random weights) leans on the border-pull
    # Newton, which amplifies it (measured 0.05 px for 1 of 408 coordinates)
    assert np.median(difference) < 1e-3 and difference.max() < 0.2


def test_weights_of_the_older_six_channel_stem_load_into_the_coordconv_stem(tmp_path) -> None:
    """The stem was one convolution over image + x, y, radius; it is now a CoordConv2d (whose
    coordinate part an export freezes): older weights load and compute the same maps."""
    from heatmark.models.coordconv import append_coordinates

    torch.manual_seed(0)
    net = MobileHeatmapNet(68, widths=(8, 16, 16, 24), blocks=(1, 1, 1)).eval()
    state = net.state_dict()
    old = dict(state)
    old["stem.conv.weight"] = torch.cat(
        [old.pop("stem.conv.conv.weight"), old.pop("stem.conv.coord_conv.weight")], dim=1
    )
    fresh = MobileHeatmapNet(68, widths=(8, 16, 16, 24), blocks=(1, 1, 1)).eval()
    fresh.load_state_dict(fresh.upgrade_state(old))
    image = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fresh(image)[0], net(image)[0])
        plain = torch.nn.functional.conv2d(
            append_coordinates(image), old["stem.conv.weight"], stride=2, padding=1
        )
        torch.testing.assert_close(net.stem.conv(image), plain, rtol=0, atol=1e-5)
    assert fresh.upgrade_state(state) is state  # the current layout passes through
