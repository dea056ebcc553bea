"""Networks: shapes, CoordConv and boundary channels, parameter counts, fused/fast paths."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from heatmark.models import (
    BOUNDARY_THRESHOLD,
    ConvNorm,
    CoordConv2d,
    HRNetW18,
    StackedHourglass,
    accelerate,
    append_coordinates,
    boundary_coordinate_channels,
    coordinate_channels,
    count_multiply_adds,
    count_parameters,
    fuse_for_inference,
    to_channels_last,
)
from model_weights import randomise_weights


def _make_outputs_non_trivial(model: nn.Module, image: Tensor, seed: int = 0) -> None:
    """Unit-scale conv weights, random BN affines and BN statistics of images like ``image``.

    Fresh models predict near-zero heatmaps by design; comparing two near-zero outputs with
    atol 1e-4 would prove nothing, so the numerical-equivalence tests first give the model
    outputs of order one and BatchNorm statistics that really matter.
    """
    generator = torch.Generator().manual_seed(seed)
    randomise_weights(model, generator, fresh_statistics=True)
    with torch.no_grad():
        model.train()(torch.randn((8, *image.shape[1:]), generator=generator))
    model.eval()


def _close(actual: Tensor, expected: Tensor) -> bool:
    """Equal up to float32 summation order through a deep network (outputs of order one).

    Loose on purpose: the float32 gap depends on the CPU's convolution kernels (measured up to
    4e-5 here; other vector units sum in another order), so this only catches gross errors
    (a wrong fold or layout is off by ~0.1); each test repeats the comparison in float64,
    where the two paths agree to rounding, for exactness."""
    return torch.allclose(actual, expected, atol=2e-3, rtol=1e-2)


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("stacks", "size", "width", "depth"),
    [(1, 64, 16, 4), (2, 64, 16, 4), (3, 128, 16, 3), (4, 64, 8, 2), (2, 256, 8, 4)],
)
def test_hourglass_returns_one_map_per_stack_at_quarter_resolution(stacks, size, width, depth):
    model = StackedHourglass(5, num_stacks=stacks, width=width, depth=depth).eval()
    with torch.no_grad():
        outputs = model(torch.randn(2, 3, size, size))
    assert len(outputs) == stacks
    assert all(o.shape == (2, 5, size // 4, size // 4) for o in outputs)


def test_boundary_adds_one_last_channel():
    model = StackedHourglass(7, num_stacks=2, width=16, boundary=True).eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 64, 64))
    assert model.num_outputs == 8
    assert [o.shape[1] for o in outputs] == [8, 8]


def test_hrnet_at_256_gives_one_64x64_map_per_point():
    model = HRNetW18(68).eval()
    with torch.no_grad():
        outputs = model(torch.randn(1, 3, 256, 256))
    assert isinstance(outputs, list) and len(outputs) == 1
    assert outputs[0].shape == (1, 68, 64, 64)


def test_small_hrnet_runs_at_128():
    model = HRNetW18(19, width=8, stem_channels=16).eval()
    with torch.no_grad():
        (out,) = model(torch.randn(2, 3, 128, 128))
    assert out.shape == (2, 19, 32, 32)


def test_heads_start_near_zero():
    torch.manual_seed(0)
    image = torch.randn(2, 3, 64, 64)
    for model in (StackedHourglass(5, 2, width=32), HRNetW18(5, width=8, stem_channels=16)):
        for training in (True, False):
            with torch.no_grad():
                outputs = model.train(training)(image)
            assert max(o.abs().max().item() for o in outputs) < 0.1


def test_bad_arguments_are_rejected_with_the_argument_named():
    with pytest.raises(ValueError, match="boundary"):
        StackedHourglass(68, boundary_coords=True, boundary=False)
    with pytest.raises(ValueError, match="width"):
        StackedHourglass(68, width=30)
    with pytest.raises(ValueError, match="divisible by 64"):
        StackedHourglass(3, 1, width=8, depth=4)(torch.zeros(1, 3, 96, 96))
    with pytest.raises(ValueError, match="divisible by 32"):
        HRNetW18(3, width=4, stem_channels=8)(torch.zeros(1, 3, 80, 80))


# ---------------------------------------------------------------- CoordConv


def test_coordinate_channels_span_minus_one_to_one_with_unit_corner_radius():
    coords = coordinate_channels(5, 7)
    assert coords.shape == (1, 3, 5, 7)
    x, y, r = coords[0]
    assert torch.allclose(x[0], torch.linspace(-1, 1, 7)) and torch.equal(x, x[:1].expand(5, 7))
    assert torch.allclose(y[:, 0], torch.linspace(-1, 1, 5))
    assert torch.equal(y, y[:, :1].expand(5, 7))
    assert torch.allclose(r, torch.sqrt(x**2 + y**2) / math.sqrt(2))
    assert abs(r[2, 3]) < 1e-6 and torch.allclose(r[[0, 0, 4, 4], [0, 6, 0, 6]], torch.ones(4))
    assert coordinate_channels(1, 1).abs().sum() == 0  # a lone pixel is the centre


def test_append_coordinates_keeps_input_and_adds_three_channels():
    x = torch.randn(2, 4, 6, 6)
    out = append_coordinates(x)
    assert out.shape == (2, 7, 6, 6)
    assert torch.equal(out[:, :4], x)
    assert torch.equal(out[1, 4:], coordinate_channels(6, 6)[0])


def test_boundary_coordinates_follow_a_hand_made_boundary_map():
    boundary = torch.zeros(2, 1, 8, 8)
    boundary[0, 0, 2, 1:7] = 0.9  # a horizontal outline in image 0
    boundary[0, 0, 5, 3] = BOUNDARY_THRESHOLD  # exactly at the threshold: kept
    boundary[0, 0, 6, 6] = 0.049  # just below: dropped
    boundary[1, 0, :, 4] = 0.5  # a vertical outline in image 1
    channels = boundary_coordinate_channels(boundary)
    assert channels.shape == (2, 2, 8, 8)
    mask = boundary >= BOUNDARY_THRESHOLD
    xy = coordinate_channels(8, 8)[:, :2]
    assert torch.equal(channels, torch.where(mask, xy, torch.zeros(())))
    assert channels[0, 0, 5, 3] == xy[0, 0, 5, 3] and channels[0, :, 6, 6].abs().sum() == 0
    assert torch.allclose(channels[1, 0, :, 4], torch.full((8,), xy[0, 0, 0, 4].item()))
    assert channels[1, :, :, :4].abs().sum() == 0 and channels[1, :, :, 5:].abs().sum() == 0


def test_coordconv_equals_a_plain_conv_over_the_concatenated_channels():
    torch.manual_seed(0)
    conv = CoordConv2d(4, 6, 3, stride=2, padding=1, with_boundary=True)
    x, boundary = torch.randn(2, 4, 10, 10), torch.rand(2, 1, 10, 10)
    plain = nn.Conv2d(9, 6, 3, stride=2, padding=1)
    with torch.no_grad():
        plain.weight.copy_(conv.concatenated_weight())
        plain.bias.copy_(conv.conv.bias)
    stacked = torch.cat((append_coordinates(x), boundary_coordinate_channels(boundary)), dim=1)
    assert torch.allclose(conv(x, boundary), plain(stacked), atol=1e-5)
    with pytest.raises(ValueError, match="boundary"):
        conv(x)


def test_stack_two_sees_the_boundary_coordinates_of_stack_one():
    torch.manual_seed(0)
    model = StackedHourglass(3, 2, width=16, boundary=True, boundary_coords=True).eval()
    assert model.stacks[0].entry is None and model.stacks[1].entry.with_boundary
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():  # shift stack 1's boundary map so that about half of it is "on"
        median = model(image)[0][:, -1].median()
        model.stacks[0].head.bias[-1] += BOUNDARY_THRESHOLD - median
    seen = []
    hook = model.stacks[1].entry.boundary_conv.register_forward_hook(
        lambda module, inputs, output: seen.append(inputs[0])
    )
    with torch.no_grad():
        outputs = model(image)
    hook.remove()
    boundary = outputs[0][:, -1:]
    mask = boundary >= BOUNDARY_THRESHOLD
    assert 0 < mask.sum() < mask.numel()
    assert torch.equal(seen[0], boundary_coordinate_channels(boundary))
    assert torch.equal(seen[0][:, :1] != 0, mask & (coordinate_channels(16, 16)[:, :1] != 0))


def test_coordconv_option_puts_coordinates_before_stem_and_every_hourglass():
    model = StackedHourglass(3, 3, width=16, coordconv=True)
    assert isinstance(model.stem_conv.conv, CoordConv2d)
    assert all(isinstance(stack.entry, CoordConv2d) for stack in model.stacks)
    plain = StackedHourglass(3, 3, width=16)
    assert not any(isinstance(m, CoordConv2d) for m in plain.modules())


def test_coordconv_everywhere_leaves_no_plain_convolution():
    model = StackedHourglass(3, 2, width=16, coordconv_everywhere=True)
    inside = {id(part) for m in model.modules() if isinstance(m, CoordConv2d) for part in m.parts()}
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(id(c) in inside for c in convs)
    with torch.no_grad():
        outputs = model.eval()(torch.randn(1, 3, 64, 64))
    assert outputs[-1].shape == (1, 3, 16, 16)


# ---------------------------------------------------------------- sizes


def test_parameter_counts_are_stable():
    hrnet98 = HRNetW18(98)
    assert count_parameters(hrnet98) == 9_662_528
    assert abs(count_parameters(hrnet98) / 9.3e6 - 1) < 0.05  # HRNet README: 9.3 M
    assert count_parameters(HRNetW18(68)) == 9_654_398
    assert hrnet98.head_features.conv.in_channels == 270 and hrnet98.head.out_channels == 98
    assert count_parameters(StackedHourglass(68, 1)) == 6_249_604
    assert count_parameters(StackedHourglass(68, 4)) == 23_820_112


def test_multiply_adds_of_a_single_conv_match_the_formula():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_multiply_adds(conv, input_size=16) == 16 * 16 * 8 * 3 * 9
    assert count_multiply_adds(conv.train(), input_size=16) and conv.training  # mode restored


# ---------------------------------------------------------------- numerics


def test_forward_is_deterministic_for_a_seed():
    image = torch.randn(2, 3, 64, 64)
    results = []
    for _ in range(2):
        torch.manual_seed(123)
        model = StackedHourglass(4, 2, width=16, boundary=True, coordconv=True).eval()
        with torch.no_grad():
            results.append(model(image))
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))


@pytest.mark.parametrize(
    "build",
    [
        lambda: StackedHourglass(
            4,
            2,
            width=16,
            boundary=True,
            coordconv=True,
            boundary_coords=True,
            coordconv_everywhere=True,
        ),
        lambda: HRNetW18(4, width=8, stem_channels=16),
    ],
)
def test_gradients_are_finite_and_reach_every_parameter(build):
    torch.manual_seed(0)
    model = build()
    if isinstance(model, StackedHourglass):  # open the boundary mask of stack 2's input
        head = model.stacks[0].head
        with torch.no_grad():
            (head.conv if isinstance(head, CoordConv2d) else head).bias[-1] = 0.06
    outputs = model(torch.randn(2, 3, 64, 64))
    loss = sum((o - torch.rand_like(o)).square().mean() for o in outputs)
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert sum(g.abs().sum().item() for g in grads.values()) > 0


@pytest.mark.parametrize(
    "build",
    [
        lambda: StackedHourglass(4, 2, width=16, boundary=True, coordconv=True),
        lambda: StackedHourglass(4, 1, width=16, coordconv_everywhere=True),
        lambda: HRNetW18(4, width=8, stem_channels=16),
    ],
)
def test_fused_model_matches_unfused_in_eval_mode(build):
    torch.manual_seed(0)
    model = build()
    image = torch.randn(2, 3, 64, 64)
    _make_outputs_non_trivial(model, image)
    fused = fuse_for_inference(model)
    units = [m for m in fused.modules() if isinstance(m, ConvNorm)]
    assert units and all(isinstance(m.norm, nn.Identity) for m in units)
    if isinstance(fused, HRNetW18):  # every HRNet BatchNorm follows a conv: none is left
        assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    with torch.no_grad():
        expected, actual = model(image), fused(image)
    assert min(e.std().item() for e in expected) > 0.05
    assert all(_close(a, b) for a, b in zip(expected, actual, strict=True))
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # original untouched
    # In float64 the fold is exact to rounding: the float32 gap is summation order only.
    model, fused = model.double(), fuse_for_inference(model.double())
    with torch.no_grad():
        expected, actual = model(image.double()), fused(image.double())
    assert all(torch.allclose(a, b, atol=1e-9) for a, b in zip(expected, actual, strict=True))


@pytest.mark.parametrize(
    "build",
    [
        lambda: StackedHourglass(4, 2, width=16, boundary=True, coordconv=True),
        lambda: HRNetW18(4, width=8, stem_channels=16),
    ],
)
def test_channels_last_output_equals_nchw_output(build):
    torch.manual_seed(0)
    model = build()
    image = torch.randn(2, 3, 64, 64)
    _make_outputs_non_trivial(model, image)
    with torch.no_grad():
        expected = model(image)
        fast = to_channels_last(model)
        actual = fast(image.to(memory_format=torch.channels_last))
    conv = next(m for m in fast.modules() if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert min(e.std().item() for e in expected) > 0.05
    assert all(_close(a, b) for a, b in zip(expected, actual, strict=True))
    model, fast = model.double(), fast.double()
    with torch.no_grad():
        expected = model(image.double())
        actual = fast(image.double().contiguous(memory_format=torch.channels_last))
    assert all(torch.allclose(a, b, atol=1e-9) for a, b in zip(expected, actual, strict=True))


def test_accelerate_fuses_a_copy_for_inference_and_converts_in_place_for_training():
    torch.manual_seed(0)
    model = HRNetW18(4, width=8, stem_channels=16)
    image = torch.randn(2, 3, 64, 64)
    _make_outputs_non_trivial(model, image)
    fast = accelerate(model, inference=True)
    assert fast is not model and not fast.training
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    with torch.no_grad():
        assert _close(fast(image.contiguous(memory_format=torch.channels_last))[0], model(image)[0])
    trained = accelerate(model, inference=False)
    assert trained is model and model.head.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("stacks", [1, 2])
def test_fine_heads_predict_at_half_the_input_and_see_the_stem(stacks: int) -> None:
    """``output_stride=2``: 64x64 maps from a 128 px input, for every stack; the fine maps
    depend on the stem's S/2 features (a change that only those see moves them)."""
    torch.manual_seed(0)
    model = StackedHourglass(5, stacks, width=16, depth=2, output_stride=2).eval()
    image = torch.rand(1, 3, 64, 64)
    outputs = model(image)
    assert [tuple(o.shape) for o in outputs] == [(1, 5, 32, 32)] * stacks
    with torch.no_grad():
        for stack in model.stacks:  # heads start near zero: make the skip path visible
            torch.nn.init.normal_(stack.head_conv.weight, std=1.0)
        base = model(image)[-1]
        model.stacks[-1].head.skip.norm.bias.add_(1.0)
        assert not torch.allclose(model(image)[-1], base)
    with pytest.raises(ValueError, match="output_stride"):
        StackedHourglass(5, 1, width=16, depth=2, output_stride=8)


def test_a_frozen_coordconv_keeps_its_coordinate_term_as_a_constant():
    """``freeze_coordinates_`` (ONNX export): the same output, the coordinate convolution run
    once per input size, so an export traces a constant instead of a convolution per call."""
    torch.manual_seed(0)
    conv = CoordConv2d(4, 6, 3, padding=1).eval()
    x = torch.rand(2, 4, 10, 12)
    expected = conv(x)
    calls = []
    conv.coord_conv.register_forward_hook(lambda *args: calls.append(1))
    conv.freeze_coordinates_()
    for _ in range(3):
        torch.testing.assert_close(conv(x), expected)
    assert len(calls) == 1
    conv(torch.rand(1, 4, 8, 8))  # another size: computed once more
    assert len(calls) == 2
