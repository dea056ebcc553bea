"""Heatmap codec: sub-pixel encoding, GET_MAX / GET_BC round trips, boundary and weight maps."""

import numpy as np
import pytest
import torch

from heatmark.codec import (
    Decoding,
    HeatmapCodec,
    decode_barycenter,
    decode_max,
    dilated_weight_map,
    heatmap_weight_map,
)
from heatmark.codec.boundary import boundary_heatmap
from heatmark.codec.gaussian import gaussian_heatmaps
from heatmark.schemes import FACE_68, Boundary


def _heatmap_points(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """Random heatmap coordinates plus hard cases on the outermost pixel centres."""
    u = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed)) * (size - 1)
    edge = size - 1
    u[:8] = torch.tensor(
        [
            [0, 0],
            [edge, edge],
            [0.01, 30],
            [edge - 0.01, 0.2],
            [0.5, 0.5],
            [0.49, edge - 0.49],
            [edge, 0],
            [17.5, 0],
        ],
        dtype=torch.float32,
    )
    return u


def test_coordinate_relation_input_to_heatmap() -> None:
    codec = HeatmapCodec(256, 64)
    # input pixels 0..3 form heatmap pixel 0, whose centre is input x = 1.5
    assert codec.to_heatmap(torch.tensor([1.5])).item() == pytest.approx(0.0)
    assert codec.to_heatmap(torch.tensor([255.0 - 1.5])).item() == pytest.approx(63.0)
    x = torch.tensor([12.3, 200.7])
    assert torch.allclose(codec.to_input(codec.to_heatmap(x)), x)


def test_gaussian_is_centred_sub_pixel() -> None:
    maps = gaussian_heatmaps(torch.tensor([[10.3, 20.75]]), 32, 32, sigma=1.5)
    assert maps.shape == (1, 32, 32)
    ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    p = maps[0] / maps[0].sum()
    assert float((p * xs).sum()) == pytest.approx(10.3, abs=1e-4)
    assert float((p * ys).sum()) == pytest.approx(20.75, abs=1e-4)
    assert float(maps.max()) < 1.0  # centre falls between pixels: no pixel reaches the peak
    exact = torch.exp(-((xs - 10.3) ** 2 + (ys - 20.75) ** 2) / (2 * 1.5**2))
    assert torch.allclose(maps[0], exact, atol=1e-6)


@pytest.mark.parametrize("sigma", [1.0, 1.5, 3.0])
def test_round_trip_get_max_and_get_bc(sigma: float) -> None:
    codec = HeatmapCodec(256, 64, sigma=sigma)
    u = _heatmap_points(400, 64)
    points = codec.to_input(u)
    maps = codec.encode(points[None])
    for decoding, softmax, tolerance in [
        (Decoding.GET_MAX, False, 0.3),
        (Decoding.GET_BC, False, 0.05),
        (Decoding.GET_BC, True, 0.05),
    ]:
        net_output = maps.clamp_min(1e-30).log() if softmax else maps
        decoded, scores = codec.decode(net_output, 400, decoding, softmax=softmax)
        error = (codec.to_heatmap(decoded[0]) - u).abs().max().item()
        assert error < tolerance, (decoding, softmax, error)
        assert scores.shape == (1, 400)


def test_plain_barycenter_is_biased_at_the_border_and_the_correction_fixes_it() -> None:
    maps = gaussian_heatmaps(torch.tensor([[0.5, 30.0]]), 64, 64, sigma=3.0)
    raw, _ = decode_barycenter(maps, softmax=False)
    fixed, _ = decode_barycenter(maps, softmax=False, border_sigma=3.0)
    assert raw[0, 0] > 1.5  # pulled inwards by more than a pixel
    assert abs(fixed[0, 0].item() - 0.5) < 1e-3
    assert abs(raw[0, 1].item() - 30.0) < 1e-3  # the other axis is not cut


def test_softmax_barycenter_uses_the_loss_temperature() -> None:
    """Logits trained as softmax(z / T) decode at the centre only with the same T."""
    temperature = 0.1
    target = gaussian_heatmaps(torch.tensor([[6.0, 9.0]]), 32, 32, sigma=1.5)
    logits = temperature * torch.log(target / target.sum())
    matched, _ = decode_barycenter(logits, softmax=True, border_sigma=1.5, temperature=temperature)
    plain, _ = decode_barycenter(logits, softmax=True, border_sigma=1.5)
    assert (matched[0] - torch.tensor([6.0, 9.0])).norm() < 1e-3
    assert (plain[0] - torch.tensor([6.0, 9.0])).norm() > 0.5  # a wider map, pulled inwards
    with pytest.raises(ValueError, match="temperature"):
        decode_barycenter(logits, softmax=True, temperature=0.0)


def test_barycenter_window_ignores_far_activations() -> None:
    maps = gaussian_heatmaps(torch.tensor([[20.0, 20.0]]), 64, 64, sigma=1.0)
    maps[0, 60, 60] = 0.5  # a spurious far activation
    full, _ = decode_barycenter(maps, softmax=False)
    local, _ = decode_barycenter(maps, softmax=False, window=4, border_sigma=1.0)
    assert (full[0] - torch.tensor([20.0, 20.0])).norm() > 1.0
    assert (local[0] - torch.tensor([20.0, 20.0])).norm() < 1e-3


def test_decode_max_quarter_shift_direction() -> None:
    maps = torch.zeros(1, 8, 8)
    maps[0, 3, 4] = 1.0
    maps[0, 3, 5] = 0.6  # right neighbour higher than left
    maps[0, 2, 4] = 0.3  # upper neighbour higher than lower
    coords, score = decode_max(maps)
    assert coords[0].tolist() == [4.25, 2.75]
    assert score.item() == 1.0


def test_decode_all_zero_map_is_finite() -> None:
    coords, _ = decode_barycenter(torch.zeros(2, 16, 16), softmax=False)
    assert torch.isfinite(coords).all()
    coords, _ = decode_max(torch.zeros(2, 16, 16))
    assert torch.isfinite(coords).all()


def test_boundary_channel() -> None:
    codec = HeatmapCodec(256, 64, boundaries=FACE_68.boundaries)
    rng = np.random.default_rng(0)
    points = torch.tensor(rng.uniform(40, 210, size=(68, 2)), dtype=torch.float32)
    maps = codec.encode(points)
    assert maps.shape == (69, 64, 64)
    assert codec.num_channels(68) == 69
    edge = maps[68]
    assert edge.max().item() <= 1.0 and edge.min().item() >= 0.0
    # every one of the 68 points lies on some line of the 13
    assert len({i for b in FACE_68.boundaries for i in b.indices}) == 68
    straight = boundary_heatmap(
        torch.tensor([[[5.0, 5.0], [15.0, 5.0]]]), (Boundary("line", (0, 1)),), 16, 32, sigma=1.0
    )[0]
    assert straight[5, 5:16].min().item() == pytest.approx(1.0)
    assert straight[6, 10].item() == pytest.approx(np.exp(-0.5), rel=1e-5)
    assert straight[8, 10].item() == 0.0  # beyond 3 sigma
    assert straight[5, 3].item() == pytest.approx(np.exp(-2.0), rel=1e-5)  # past the end


def test_batched_encode_matches_per_sample() -> None:
    codec = HeatmapCodec(128, 32, sigma=1.5, boundaries=FACE_68.boundaries)
    pts = torch.rand(3, 68, 2) * 127
    batched = codec.encode(pts)
    single = torch.stack([codec.encode(p) for p in pts])
    assert torch.allclose(batched, single)


def test_weight_maps() -> None:
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 4, 4] = 1.0
    target[0, 0, 4, 5] = 0.1
    weights = dilated_weight_map(target, weight=10, threshold=0.2)
    # the 3x3 neighbourhood of the peak (foreground + hard background) weighs W + 1 = 11
    assert weights[0, 0, 3:6, 3:6].eq(11).all()
    assert weights[0, 0, 0, 0].item() == 1.0
    assert weights[0, 0, 4, 6].item() == 1.0  # dilation of 0.1 < 0.2
    assert int((weights == 11).sum()) == 9
    baseline = heatmap_weight_map(target, weight=10)
    assert baseline[0, 0, 4, 4].item() == 11.0
    assert baseline[0, 0, 4, 5].item() == pytest.approx(2.0)
    with pytest.raises(ValueError):
        dilated_weight_map(target, kernel=4)


def test_codec_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match="multiple"):
        HeatmapCodec(250, 64)
    with pytest.raises(ValueError):
        HeatmapCodec(256, 64, sigma=0)


@pytest.mark.parametrize("size", [24, 32])
def test_the_window_table_inverts_the_border_pull_like_newton(size: int) -> None:
    """Windowed GET_BC reads the inverse pull from ``border_pull_table`` instead of iterating:
    the centre of a sampled Gaussian comes back on the map, at its border and off it."""
    from heatmark.codec.decode import border_pull_table

    table = border_pull_table(1.0, 3)
    assert table.shape == (7, 2049)
    generator = torch.Generator().manual_seed(0)
    for low, high, tolerance in [(3.5, size - 4.5, 1e-4), (-0.5, 2.5, 1e-4), (-3.0, -0.5, 1e-3)]:
        centres = torch.rand(500, 2, generator=generator) * (high - low) + low
        maps = gaussian_heatmaps(centres, size, size, sigma=1.0)
        decoded, _ = decode_barycenter(maps, softmax=False, window=3, border_sigma=1.0)
        assert (decoded - centres).abs().max() < tolerance, (low, high)
        if low < 0:  # the uncorrected barycenter is far off there: the table does the work
            raw, _ = decode_barycenter(maps, softmax=False, window=3)
            assert (raw - centres).abs().max() > 0.3
