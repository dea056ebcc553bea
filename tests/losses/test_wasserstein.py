"""The 2D Wasserstein (Sinkhorn) loss: values vs POT, gradients, the Fig. 4 property, guards."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from heatmark.losses.sinkhorn import (
    SinkhornOptions,
    sinkhorn,
    sinkhorn_cost,
)
from heatmark.losses.wasserstein import WassersteinLoss

ot = pytest.importorskip("ot")

COSTS = ("euclidean", "sqeuclidean", "l1")
TIGHT = {"tolerance": 1e-6, "max_iterations": 2000}


def gaussian_maps(centres: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """(N, 2) centres (row, column) in pixels -> (N, size, size) peak-1 Gaussians."""
    grid = torch.arange(size, dtype=torch.float64)
    rows = torch.exp(-((grid - centres[:, :1]) ** 2) / (2 * sigma**2))
    columns = torch.exp(-((grid - centres[:, 1:]) ** 2) / (2 * sigma**2))
    return rows[:, :, None] * columns[:, None, :]


def normalised(maps: torch.Tensor) -> torch.Tensor:
    return maps / maps.sum(dim=(-2, -1), keepdim=True)


def dense_cost(cost: str, size: int) -> np.ndarray:
    centres = (np.arange(size) + 0.5) / size
    rows, columns = np.meshgrid(centres, centres, indexing="ij")
    points = np.stack([rows.ravel(), columns.ravel()], axis=1)
    difference = points[:, None, :] - points[None, :, :]
    if cost == "euclidean":
        return np.sqrt((difference**2).sum(-1))
    if cost == "sqeuclidean":
        return (difference**2).sum(-1)
    return np.abs(difference).sum(-1)


def pot_values(a: torch.Tensor, b: torch.Tensor, cost: str, eps: float, method: str) -> np.ndarray:
    matrix = dense_cost(cost, a.shape[-1])
    values = []
    for first, second in zip(a.double(), b.double(), strict=True):
        p = first.flatten().numpy()
        q = second.flatten().numpy()
        # POT's scaling method divides by the weights: keep each map's support only.
        rows, columns = p > 0, q > 0
        value = ot.sinkhorn2(
            p[rows] / p.sum(),
            q[columns] / q.sum(),
            matrix[rows][:, columns],
            eps,
            method=method,
            numItermax=20000,
            stopThr=1e-10,
        )
        values.append(float(value))
    return np.array(values)


def sample_pairs(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Five float32 pairs: random softmax vs Gaussian, random vs random, overlapping Gaussians,
    far-apart Gaussians, and two sharp Gaussians at nearly the same place."""
    generator = torch.Generator().manual_seed(seed)
    s = size / 16

    def gauss(row: float, column: float, sigma: float) -> torch.Tensor:
        return normalised(gaussian_maps(torch.tensor([[row * s, column * s]]), size, sigma * s))[0]

    def soft(scale: float) -> torch.Tensor:
        logits = scale * torch.randn(size * size, generator=generator, dtype=torch.float64)
        return torch.softmax(logits, -1).view(size, size)

    a = torch.stack([soft(2.0), soft(1.0), gauss(8, 8, 1.0), gauss(3, 4, 1.5), gauss(6, 6.5, 0.6)])
    b = torch.stack(
        [gauss(8, 7, 1.0), soft(1.0), gauss(8.5, 7, 1.0), gauss(12, 13, 1.5), gauss(6.2, 6.5, 0.6)]
    )
    return normalised(a.float()), normalised(b.float())


# --------------------------------------------------------------------------------------------
# Value = POT's sinkhorn2 (transport cost of the entropic plan)


@pytest.mark.parametrize("cost", COSTS)
def test_value_matches_pot_at_16(cost: str) -> None:
    a, b = sample_pairs(16)
    mine = sinkhorn_cost(a, b, SinkhornOptions(cost=cost, **TIGHT)).double().numpy()
    for method in ("sinkhorn", "sinkhorn_log"):
        reference = pot_values(a, b, cost, 0.05, method)
        # float32 against float64: 1.2e-4 measured on the sharp pair (16x margin)
        assert np.all(np.abs(mine / reference - 1) < 2e-3), (method, mine, reference)


@pytest.mark.parametrize("cost", COSTS)
def test_value_matches_pot_at_64(cost: str) -> None:
    a, b = sample_pairs(64, seed=1)
    picked = [0, 2]  # a random map and a Gaussian pair: POT's dense 4096^2 solve is slow
    mine = sinkhorn_cost(a[picked], b[picked], SinkhornOptions(cost=cost, tolerance=1e-4))
    reference = pot_values(a[picked], b[picked], cost, 0.05, "sinkhorn")
    assert np.all(np.abs(mine.double().numpy() / reference - 1) < 1e-3), (mine, reference)


def test_sharp_euclidean_kernel_in_float32_matches_pot() -> None:
    # eps = 0.64 pixel: max cost / eps = 68, still float32; the Gaussian expansion must not lean
    # on cancellation between its terms and the identity term.
    a, b = sample_pairs(32, seed=2)
    options = SinkhornOptions(cost="euclidean", epsilon=0.02, tolerance=1e-5, max_iterations=5000)
    mine = sinkhorn_cost(a, b, options)
    assert mine.dtype == torch.float32
    reference = pot_values(a, b, "euclidean", 0.02, "sinkhorn")
    assert np.all(np.abs(mine.double().numpy() / reference - 1) < 1e-3), (mine, reference)


def test_entropic_value_is_the_dual_objective_and_exceeds_the_transport_cost() -> None:
    a, b = sample_pairs(16)
    result = sinkhorn(a.double(), b.double(), SinkhornOptions(cost="sqeuclidean", **TIGHT))
    # OT_eps = <P, C> + eps KL(P | a x b) with KL >= 0.
    assert torch.all(result.entropic >= result.transport - 1e-9)
    # Recompute <P, C> and the KL term from the potentials with a dense plan.
    cost = torch.as_tensor(dense_cost("sqeuclidean", 16))
    eps = 0.05
    f, g = result.f.flatten(1), result.g.flatten(1)
    pa, pb = a.double().flatten(1), b.double().flatten(1)
    plan = pa[:, :, None] * pb[:, None, :] * torch.exp((f[:, :, None] + g[:, None, :] - cost) / eps)
    assert torch.allclose(plan.sum(-1), pa, atol=1e-6)
    transport = (plan * cost).sum((1, 2))
    assert torch.allclose(transport, result.transport, rtol=1e-6)
    ratio = torch.where(plan > 0, plan / (pa[:, :, None] * pb[:, None, :]), torch.ones_like(plan))
    kl = (plan * torch.log(ratio)).sum((1, 2))
    assert torch.allclose(transport + eps * kl, result.entropic, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Gradients


def unrolled_entropic(logits: torch.Tensor, b: torch.Tensor, cost: str, eps: float) -> torch.Tensor:
    """OT_eps by a converged dense log-domain Sinkhorn, differentiated by autograd throughout."""
    size = logits.shape[-1]
    matrix = torch.as_tensor(dense_cost(cost, size))
    a = torch.softmax(logits.flatten(1), -1)
    log_a, log_b = torch.log(a), torch.log(b.flatten(1))
    f = torch.zeros_like(a)
    g = torch.zeros_like(a)
    for _ in range(300):
        g = -eps * torch.logsumexp(log_a[:, :, None] + (f[:, :, None] - matrix) / eps, dim=1)
        f = -eps * torch.logsumexp(log_b[:, None, :] + (g[:, None, :] - matrix) / eps, dim=2)
    return (a * f).sum(-1) + (b.flatten(1) * g).sum(-1)


@pytest.mark.parametrize("cost", ["sqeuclidean", "l1"])
def test_envelope_gradient_equals_autograd_through_converged_unrolled_solve(cost: str) -> None:
    torch.manual_seed(0)
    size = 10
    logits = torch.randn(3, size, size, dtype=torch.float64)
    b = normalised(gaussian_maps(torch.tensor([[3.0, 4.0], [6.0, 2.0], [5.0, 5.0]]), size, 1.2))
    unrolled = logits.clone().requires_grad_()
    unrolled_entropic(unrolled, b, cost, 0.05).sum().backward()

    mine = logits.clone().requires_grad_()
    a = torch.softmax(mine.flatten(1), -1).view_as(mine)
    options = SinkhornOptions(cost=cost, **TIGHT)
    sinkhorn_cost(a, b, options, value="entropic").sum().backward()
    assert torch.allclose(mine.grad, unrolled.grad, atol=1e-7, rtol=1e-5)

    # value="transport" reports <P, C> but back-propagates the same (entropic) gradient.
    transport = logits.clone().requires_grad_()
    a = torch.softmax(transport.flatten(1), -1).view_as(transport)
    sinkhorn_cost(a, b, options, value="transport").sum().backward()
    assert torch.allclose(transport.grad, mine.grad, atol=1e-12)


@pytest.mark.parametrize(("cost", "debiased"), [("euclidean", False), ("l1", True)])
def test_gradient_matches_finite_differences(cost: str, debiased: bool) -> None:
    torch.manual_seed(1)
    pred = torch.randn(1, 2, 12, 12, dtype=torch.float64)
    target = gaussian_maps(torch.tensor([[4.0, 5.0], [8.0, 3.0]]), 12, 1.5).view(1, 2, 12, 12)
    loss = WassersteinLoss(
        cost=cost, value="entropic", debiased=debiased, tolerance=1e-9, max_iterations=5000
    )
    pred.requires_grad_()
    loss(pred, target).backward()
    direction = torch.randn_like(pred)
    step = 1e-4
    with torch.no_grad():
        difference = loss(pred + step * direction, target) - loss(pred - step * direction, target)
    numeric = float(difference) / (2 * step)
    analytic = float((pred.grad * direction).sum())
    assert math.isclose(numeric, analytic, rel_tol=1e-4, abs_tol=1e-9)


def test_target_gets_a_gradient_when_it_requires_one() -> None:
    a, b = sample_pairs(16)
    b = b.double().requires_grad_()
    options = SinkhornOptions(cost="l1", **TIGHT)
    sinkhorn_cost(a.double(), b, options, value="entropic").sum().backward()
    assert b.grad is not None and torch.isfinite(b.grad).all() and b.grad.abs().sum() > 0


# --------------------------------------------------------------------------------------------
# The paper's Fig. 4 property


def test_wasserstein_keeps_growing_where_l2_saturates() -> None:
    size, sigma = 48, 2.0
    target = gaussian_maps(torch.tensor([[24.0, 8.0]]), size, sigma).float()
    loss = WassersteinLoss()  # euclidean, eps 0.05, map side 1
    shifts = [0, 4, 8, 16, 24, 32]
    l2, wasserstein = [], []
    for shift in shifts:
        heatmap = gaussian_maps(torch.tensor([[24.0, 8.0 + shift]]), size, sigma).float()
        l2.append(float(F.mse_loss(heatmap, target)))
        logits = torch.log(normalised(heatmap).clamp_min(1e-30)).view(1, 1, size, size)
        wasserstein.append(float(loss(logits, target.view(1, 1, size, size))))
    # L2 stops changing once the Gaussians no longer overlap ...
    assert abs(l2[-1] - l2[-2]) < 1e-4 * l2[-1]
    assert abs(l2[-1] - l2[-3]) < 1e-3 * l2[-1]
    # ... while the Wasserstein loss keeps increasing, about linearly in the shift (map units).
    assert all(later > earlier for earlier, later in itertools.pairwise(wasserstein))
    far_slope = (wasserstein[-1] - wasserstein[-3]) / ((shifts[-1] - shifts[-3]) / size)
    assert 0.8 < far_slope < 1.2


# --------------------------------------------------------------------------------------------
# Robustness, options, guards


@pytest.mark.parametrize("cost", COSTS)
def test_extremely_peaked_predictions_and_zero_targets_stay_finite(cost: str) -> None:
    torch.manual_seed(2)
    pred = 1e4 * torch.randn(2, 3, 32, 32)  # softmax is one-hot in float32 (exact zeros)
    centres = torch.tensor([[3.0, 3.0], [16.0, 16.0], [30.0, 2.0]] * 2)
    target = gaussian_maps(centres, 32, 0.7).float().view(2, 3, 32, 32)
    target[target < 1e-3] = 0  # exact zeros around the peak
    pred.requires_grad_()
    value = WassersteinLoss(cost=cost)(pred, target)
    value.backward()
    assert torch.isfinite(value) and value > 0
    assert torch.isfinite(pred.grad).all()


def test_small_epsilon_switches_to_float64_and_too_small_is_rejected() -> None:
    a, b = sample_pairs(16)
    small = SinkhornOptions(cost="sqeuclidean", epsilon=0.02, unit="map", max_iterations=500)
    assert torch.isfinite(sinkhorn_cost(a, b, small)).all()  # max cost / eps = 88 > 80
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_cost(a, b, SinkhornOptions(cost="sqeuclidean", epsilon=1e-3))


def test_pixel_unit_is_the_map_unit_scaled() -> None:
    # In float64: the two problems are the same up to rounding (measured 2e-8 relative). In
    # float32 the fifth pair (value 0.04) differs by ~1.2e-4 relative, by an amount that
    # depends on the CPU's summation order, which is no test of the unit.
    a, b = (maps.double() for maps in sample_pairs(16))
    in_map = sinkhorn_cost(a, b, SinkhornOptions(cost="euclidean", epsilon=0.05, **TIGHT))
    in_pixels = sinkhorn_cost(
        a, b, SinkhornOptions(cost="euclidean", epsilon=0.05 * 16, unit="pixel", **TIGHT)
    )
    assert in_pixels.dtype == torch.float64
    assert torch.allclose(in_pixels, 16 * in_map, rtol=1e-6, atol=0)


def test_solver_options_agree() -> None:
    a, b = sample_pairs(32)
    values = [
        sinkhorn_cost(
            a,
            b,
            SinkhornOptions(
                cost="l1",
                epsilon_scaling=scaling,
                coarse_to_fine=pyramid,
                tolerance=1e-5,
                max_iterations=1000,
            ),
        )
        for scaling in (True, False)
        for pyramid in (True, False)
    ]
    for other in values[1:]:
        assert torch.allclose(other, values[0], rtol=2e-4)


def test_batched_solve_equals_one_map_at_a_time() -> None:
    a, b = sample_pairs(16)
    # The same number of iterations for every map, so only rounding can differ.
    options = SinkhornOptions(cost="euclidean", tolerance=0, max_iterations=300)
    together = sinkhorn_cost(a, b, options)
    alone = torch.cat([sinkhorn_cost(a[i : i + 1], b[i : i + 1], options) for i in range(len(a))])
    assert torch.allclose(together, alone, rtol=1e-5)


def test_sinkhorn_divergence_vanishes_on_equal_maps_only() -> None:
    a, b = sample_pairs(16)
    options = SinkhornOptions(cost="sqeuclidean", **TIGHT)
    same = sinkhorn_cost(a, a, options, value="entropic", debiased=True)
    different = sinkhorn_cost(a, b, options, value="entropic", debiased=True)
    assert torch.all(same.abs() < 1e-6)
    assert torch.all(different > 1e-4)


def test_all_zero_target_is_an_error_or_ignored() -> None:
    pred = torch.randn(2, 3, 16, 16)
    target = gaussian_maps(torch.full((6, 2), 8.0), 16, 1.0).float().view(2, 3, 16, 16)
    target[1, 2] = 0
    with pytest.raises(ValueError, match=r"batch 1, channel 2"):
        WassersteinLoss()(pred, target)
    ignoring = WassersteinLoss(empty_target="ignore")
    per_map = ignoring.per_map(pred, target)
    assert per_map[1, 2] == 0 and torch.all(per_map.flatten()[:5] > 0)
    assert torch.isclose(ignoring(pred, target), per_map.flatten()[:5].mean())


def test_bad_inputs_and_options_are_rejected() -> None:
    loss = WassersteinLoss()
    with pytest.raises(ValueError, match="differ"):
        loss(torch.randn(1, 2, 8, 8), torch.rand(1, 2, 8, 9))
    with pytest.raises(ValueError, match=">= 0"):
        loss(torch.randn(1, 2, 8, 8), -torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match="sums to"):
        sinkhorn_cost(torch.rand(1, 8, 8), normalised(torch.rand(1, 8, 8)))
    with pytest.raises(ValueError, match="cost"):
        SinkhornOptions(cost="cosine")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epsilon"):
        SinkhornOptions(epsilon=0)
    with pytest.raises(ValueError, match="temperature"):
        WassersteinLoss(temperature=0)


def test_temperature_sharpens_the_prediction() -> None:
    torch.manual_seed(3)
    pred = torch.randn(1, 1, 16, 16)
    pred[0, 0, 8, 8] = 4.0
    target = gaussian_maps(torch.tensor([[8.0, 8.0]]), 16, 1.0).float().view(1, 1, 16, 16)
    cold = WassersteinLoss(temperature=0.25)(pred, target)
    warm = WassersteinLoss(temperature=4.0)(pred, target)
    assert cold < warm


def _fit_one_shared_map(debiased: bool, steps: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit one learnable map shared by four targets (a network whose output does not depend
    on the image yet) -> (the fitted logits (1, 1, 16, 16), the four target maps)."""
    torch.manual_seed(0)
    size = 16
    centres = torch.tensor([[4.0, 4.0], [4.0, 11.0], [11.0, 4.0], [11.0, 11.0]])
    targets = gaussian_maps(centres, size, 1.5).float()[:, None]
    loss = WassersteinLoss(temperature=0.1, debiased=debiased)
    logits = (1e-3 * torch.randn(1, 1, size, size)).requires_grad_()
    optimiser = torch.optim.Adam([logits], lr=0.01)
    for _ in range(steps):
        value = loss(logits.expand(len(centres), 1, size, size), targets)
        optimiser.zero_grad()
        value.backward()
        optimiser.step()
    return logits.detach(), targets


def test_shared_prediction_collapses_to_the_median_unless_debiased() -> None:
    """Why SimpleBaselines + plain Wasserstein did not learn from scratch (docs/results.md):
    while the output cannot yet depend on the image, the transport cost is lowest with all mass
    on the targets' median, and the sharpened softmax there passes almost no gradient towards
    any one target. The debiased loss (Sinkhorn divergence) keeps a broad map instead."""

    def entropy(logits: torch.Tensor) -> float:
        p = torch.softmax(logits.flatten() / 0.1, 0)
        return float(-(p * p.clamp_min(1e-30).log()).sum())

    def pull_towards(logits: torch.Tensor, target: torch.Tensor) -> float:
        """Gradient at the target's peak when one image's own target comes along."""
        logits = logits.clone().requires_grad_()
        WassersteinLoss(temperature=0.1)(logits, target[None]).backward()
        return float(logits.grad[0, 0, 4, 4].abs())

    plain, targets = _fit_one_shared_map(debiased=False)
    divergence, _ = _fit_one_shared_map(debiased=True)
    assert entropy(plain) < 2.0 < 4.0 < entropy(divergence)  # uniform: log 256 = 5.55
    assert pull_towards(plain, targets[0]) < 0.01 * pull_towards(divergence, targets[0])
