"""Entropic optimal transport between maps on a pixel grid: batched log-domain Sinkhorn.

Problem (Cuturi 2013, in the KL form of Feydy et al. 2019). For probability maps ``a``, ``b`` on
the same H x W grid with pixel centres ``x_i`` and ground cost ``C_ij = c(x_i - x_j)``:

    OT_eps(a, b) = min_P <P, C> + eps KL(P | a (x) b)   over plans P with marginals a and b.

The dual potentials solve ``f_i = -eps log sum_j b_j exp((g_j - C_ij) / eps)`` and the mirror
equation for ``g``; the optimal plan is ``P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps)`` and
``OT_eps(a, b) = <a, f> + <b, g>``. Two numbers come out of a solve:

- ``transport``: ``<P, C>``, the transport cost of the entropic plan. This is what POT's
  ``ot.sinkhorn2(a, b, M, reg)`` returns (either ``method``); it is the loss value by default.
- ``entropic``: ``OT_eps(a, b)`` itself, ``<P, C>`` plus ``eps`` times the KL term.

Gradient: the envelope theorem gives ``d OT_eps / d a = f`` and ``d OT_eps / d b = g`` at the
optimum. That is the exact gradient of ``entropic`` (and of the Sinkhorn divergence when
debiased); with ``transport`` the value is ``<P, C>`` but the gradient is still that of
``OT_eps``, as in Sinkhorn losses generally (the exact derivative of ``<P, C>`` would need a
linear solve through the fixed point). Nothing is unrolled: memory is O(maps x pixels).

How it is fast, and still exact enough (1e-3 relative against POT):

- Separable kernels. ``K = exp(-C / eps)`` acts on all maps at once as ``sum_q X_q E Y_q^T``, two
  GEMMs, never an (H W)^2 matrix. One term is exact for ``l1`` and ``sqeuclidean``. The paper's
  ``euclidean`` kernel ``exp(-r / eps)`` is not separable, but ``exp(-lambda sqrt(t))`` is
  completely monotone in ``t = r^2``, i.e. a positive mixture of Gaussians ``exp(-s r^2)``, which
  are. A mixture fitted on the grid's own distances (Levenberg-Marquardt on rates and weights,
  minimax on the relative error; about 10 terms at 64 x 64, cached) is accurate in *relative*
  terms at every offset: tiny far-away entries stay right and the positive sums never cancel.
  ``K * C`` (needed once, for ``<P, C>``) has its own signed expansion, fitted relative to the
  kernel's so that the expected cost of each plan row is right.
- Log domain with one shift per map: each update is ``-log(K exp(w + pot - m)) - m`` with ``m``
  the map's maximum, so the exponentials lie in [0, 1] and every kernel sum is at least the
  smallest kernel entry ``exp(-max C / eps)``: nothing overflows, and exact zeros in either map
  (log = -inf) are harmless. Float32 while ``max C / eps <= 80``, float64 up to 600; beyond that
  epsilon is rejected as too small for the map.
- Coarse to fine: maps summed over 2 x 2 blocks down to 16 x 16; the coarsest level starts from a
  large epsilon halved each iteration (epsilon scaling); every level iterates until the L1
  marginal violation of every map is below the tolerance and warm-starts the next through its
  bilinearly upsampled potential, so the full-resolution grid needs one or two iterations.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch
from scipy.optimize import least_squares, nnls
from torch import Tensor

GroundCost = Literal["euclidean", "sqeuclidean", "l1"]
DistanceUnit = Literal["map", "pixel"]
LossValue = Literal["transport", "entropic"]

FLOAT32_RANGE = 80.0
"""Largest ``max cost / epsilon`` solved in float32 (exp(-80) is still a normal float32)."""
FLOAT64_RANGE = 600.0
"""Largest ``max cost / epsilon`` accepted at all (solved in float64)."""
COARSEST_SIDE = 16
"""Coarse-to-fine stops halving before a side would drop below this many pixels."""
EPSILON_SCALING_FACTOR = 0.5
COARSE_KERNEL_ACCURACY = 0.1
"""Relative accuracy of the Euclidean kernel on coarse levels, which only provide a warm start."""
MAX_MIXTURE_TERMS = 32
EXTRA_COST_TERMS = 4
"""The cost-weighted fit tries at most this many terms beyond the kernel's, then keeps its best."""
FAILED_FIT_ERROR = 0.1
"""A Euclidean expansion worse than this (relative) is refused rather than used."""
NEAR_FIELD_EMPHASIS = 9.0
"""The Euclidean kernel fit asks for (1 + 9 exp(-r / 2 eps)) times more accuracy near r = 0, where
plans of nearby maps live and the value is most sensitive to kernel errors."""
COST_ACCURACY_FACTOR = 0.25
"""The kernel-times-distance fit (used once per solve) is this much tighter than the kernel's."""


@dataclass(frozen=True)
class SinkhornOptions:
    """How to solve. Distances are in ``unit``s and ``epsilon`` is in the unit of the cost.

    cost: ground cost between pixel centres: ``euclidean`` |d| (the 2D Wasserstein paper's),
        ``sqeuclidean`` |d|^2 or ``l1`` |dx| + |dy|.
    epsilon: entropic regularisation, in the cost's unit (distance for ``euclidean`` and ``l1``,
        squared distance for ``sqeuclidean``).
    unit: ``map``: the longer map side has length 1 (pixel size 1 / max(H, W)), so the same
        epsilon means the same blur at any heatmap resolution; ``pixel``: pixel size 1.
    max_iterations: cap on Sinkhorn iterations at each resolution level (at least 1).
    tolerance: stop a level once the L1 marginal violation of every map is <= tolerance.
    epsilon_scaling: start the coarsest level at epsilon = the largest cost, halving it each
        iteration down to ``epsilon`` (helps small epsilons; harmless otherwise).
    coarse_to_fine: solve 2x2-summed copies of the maps first and warm-start finer levels.
    kernel_accuracy: largest relative error allowed in the Gaussian-mixture expansion of the
        Euclidean kernel on the finest level (ignored by the exactly separable costs).
    """

    cost: GroundCost = "euclidean"
    epsilon: float = 0.05
    unit: DistanceUnit = "map"
    max_iterations: int = 100
    tolerance: float = 1e-2
    epsilon_scaling: bool = True
    coarse_to_fine: bool = True
    kernel_accuracy: float = 3e-3

    def __post_init__(self) -> None:
        if self.cost not in get_args(GroundCost):
            raise ValueError(f"cost must be one of {get_args(GroundCost)}, got {self.cost!r}")
        if self.unit not in get_args(DistanceUnit):
            raise ValueError(f"unit must be one of {get_args(DistanceUnit)}, got {self.unit!r}")
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise ValueError(f"epsilon must be a positive number, got {self.epsilon}")
        if self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1, got {self.max_iterations}")
        if not self.tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {self.tolerance}")
        if not 0 < self.kernel_accuracy < 1:
            raise ValueError(f"kernel_accuracy must be in (0, 1), got {self.kernel_accuracy}")

    def pixel_size(self, height: int, width: int) -> float:
        return 1.0 / max(height, width) if self.unit == "map" else 1.0

    def max_cost(self, height: int, width: int) -> float:
        """The cost between opposite corners of an H x W map: the cost's dynamic range."""
        size = self.pixel_size(height, width)
        dy, dx = (height - 1) * size, (width - 1) * size
        return _cost_of(self.cost, dy, dx)


def _cost_of(cost: GroundCost, dy: float, dx: float) -> float:
    if cost == "euclidean":
        return math.hypot(dy, dx)
    if cost == "sqeuclidean":
        return dy * dy + dx * dx
    return abs(dy) + abs(dx)


@dataclass(frozen=True)
class SinkhornResult:
    """One solve for N map pairs. Potentials are in the cost's unit (``f = eps * log-scaling``)."""

    transport: Tensor
    """(N,) transport cost <P, C> of the entropic plan (POT's ``sinkhorn2`` value)."""
    entropic: Tensor
    """(N,) OT_eps(a, b) = <P, C> + eps KL(P | a (x) b) = <a, f> + <b, g>."""
    f: Tensor
    """(N, H, W) potential on the first map's pixels, the gradient of OT_eps w.r.t. ``a``."""
    g: Tensor
    """(N, H, W) potential on the second map's pixels, the gradient of OT_eps w.r.t. ``b``."""
    iterations: int
    """Iterations run at full resolution."""
    marginal_error: Tensor
    """(N,) L1 violation of the first marginal before the last update."""


# --------------------------------------------------------------------------------------------
# Separable kernels


@dataclass(frozen=True)
class SeparableOperator:
    """``sum_q X_q (x) Y_q + identity * I`` acting on a batch of H x W maps.

    Applied to ``E`` (N, H, W) as ``sum_q X_q E Y_q^T`` in two GEMMs for all maps at once:
    ``left`` stacks the X_q row-interleaved (row ``i * R + q`` is row i of X_q), so the first
    product lands directly in the (N H, R W) layout that the second GEMM, with the stacked
    ``right`` (block q is Y_q^T), contracts over (q, column). On the CPU the maps go through in
    chunks of a few dozen so that the R-fold intermediate stays in cache.
    """

    left: Tensor
    right: Tensor
    identity: float

    @property
    def terms(self) -> int:
        return self.right.shape[0] // self.right.shape[1]

    def __call__(self, e: Tensor) -> Tensor:
        n, h, w = e.shape
        terms = self.terms
        if terms == 0:
            return e * self.identity
        chunk = max(1, CHUNK_ELEMENTS // (terms * h * w)) if e.device.type == "cpu" else n
        out = torch.empty_like(e)
        for start in range(0, n, chunk):
            part = e[start : start + chunk]
            stacked = torch.matmul(self.left, part).view(-1, terms * w)
            torch.mm(stacked, self.right, out=out[start : start + chunk].view(-1, w))
        if self.identity:
            out.add_(e, alpha=self.identity)
        return out


CHUNK_ELEMENTS = 1 << 21
"""Size (elements) of the per-chunk intermediate of a separable product (8 MiB in float32)."""


def _interleave_left(factors: list[np.ndarray], height: int) -> np.ndarray:
    """[X_q] (each H x H) -> (H R, H) with row i * R + q = X_q[i]."""
    if not factors:
        return np.zeros((0, height))
    return np.stack(factors, axis=1).reshape(-1, height)


def _stack_right(factors: list[np.ndarray], width: int) -> np.ndarray:
    """[Y_q] (each W x W) -> (R W, W) with block q = Y_q^T."""
    if not factors:
        return np.zeros((0, width))
    return np.concatenate([y.T for y in factors], axis=0)


def _offsets(length: int, size: float) -> np.ndarray:
    index = np.arange(length, dtype=np.float64)
    return (index[:, None] - index[None, :]) * size


@dataclass(frozen=True)
class _Grid:
    """What a kernel depends on; hashable so kernels can be cached per grid."""

    cost: GroundCost
    height: int
    width: int
    size: float
    epsilon: float
    accuracy: float
    dtype: torch.dtype
    device: torch.device

    def operator(self, left: np.ndarray, right: np.ndarray, identity: float) -> SeparableOperator:
        def tensor(array: np.ndarray) -> Tensor:
            return torch.as_tensor(array, dtype=self.dtype, device=self.device).contiguous()

        return SeparableOperator(tensor(left), tensor(right), identity)

    def mixture_operator(self, mixture: GaussianMixture) -> SeparableOperator:
        dy, dx = _offsets(self.height, self.size), _offsets(self.width, self.size)
        gy = [np.exp(-s * dy**2) for s in mixture.rates]
        gx = [w * np.exp(-s * dx**2) for s, w in zip(mixture.rates, mixture.weights, strict=True)]
        identity = mixture.at_zero - float(np.sum(mixture.weights))
        return self.operator(
            _interleave_left(gy, self.height), _stack_right(gx, self.width), identity
        )

    def axis_costs(self) -> tuple[np.ndarray, np.ndarray]:
        dy, dx = _offsets(self.height, self.size), _offsets(self.width, self.size)
        if self.cost == "sqeuclidean":
            return dy**2, dx**2
        return np.abs(dy), np.abs(dx)


@functools.lru_cache(maxsize=256)
def gibbs_kernel(grid: _Grid) -> SeparableOperator:
    """``K = exp(-C / epsilon)`` on the grid (cached): exact for ``l1`` / ``sqeuclidean``, a
    positive Gaussian mixture within ``grid.accuracy`` (relative) for ``euclidean``."""
    if grid.cost == "euclidean":
        return grid.mixture_operator(_exponential_mixture(grid))
    cy, cx = grid.axis_costs()
    ky, kx = np.exp(-cy / grid.epsilon), np.exp(-cx / grid.epsilon)
    return grid.operator(_interleave_left([ky], grid.height), _stack_right([kx], grid.width), 0.0)


@functools.lru_cache(maxsize=64)
def cost_weighted_kernel(grid: _Grid) -> SeparableOperator:
    """``K * C`` on the grid (cached), for the transport cost <P, C> = sum_ij P_ij C_ij."""
    if grid.cost == "euclidean":
        return grid.mixture_operator(_exponential_times_distance(grid))
    cy, cx = grid.axis_costs()
    ky, kx = np.exp(-cy / grid.epsilon), np.exp(-cx / grid.epsilon)
    # K * C = (Ky * Cy) (x) Kx + Ky (x) (Kx * Cx), two exact separable terms.
    return grid.operator(
        _interleave_left([ky * cy, ky], grid.height),
        _stack_right([kx, kx * cx], grid.width),
        0.0,
    )


@dataclass(frozen=True)
class GaussianMixture:
    """``sum_q weights_q exp(-rates_q r^2)`` for r > 0, and the value ``at_zero`` at r = 0.

    The identity term of the operator carries ``at_zero - sum(weights)``.
    """

    rates: tuple[float, ...]
    weights: tuple[float, ...]
    at_zero: float
    error: float
    """Largest relative error over the grid's nonzero distances."""


@functools.lru_cache(maxsize=256)
def _exponential_mixture(grid: _Grid) -> GaussianMixture:
    """Positive Gaussian mixture for ``exp(-r / eps)`` at the grid's distances.

    ``exp(-lambda sqrt(t))`` is completely monotone in t = r^2, hence an integral of exp(-s t)
    against a positive measure (Bernstein), so a positive mixture of Gaussians (separable) can
    match it in *relative* terms: tiny far-away kernel entries stay accurate and kernel sums
    never cancel. Distance 0 is fitted too (the identity term only absorbs the residual).
    """
    squared = _squared_distances(grid)
    if squared.size == 1:  # a single pixel: the identity term is the whole kernel
        return GaussianMixture((), (), 1.0, 0.0)
    rate = 1.0 / grid.epsilon
    distance = np.sqrt(squared)
    emphasis = 1 + NEAR_FIELD_EMPHASIS * np.exp(-rate * distance / 2)
    emphasis[0] = 1  # distance 0 is exact through the identity term; its row keeps sum(w) ~ 1
    problem = _FitProblem(
        squared=squared,
        log_scale=-rate * distance,
        offset=np.ones_like(squared),
        emphasis=emphasis,
    )
    rates, weights, error = _fit_gaussians(problem, rate, grid.accuracy, nonnegative=True)
    _require_fit(grid, error, "exp(-r / eps)")
    return GaussianMixture(rates, weights, 1.0, error)


@functools.lru_cache(maxsize=64)
def _exponential_times_distance(grid: _Grid) -> GaussianMixture:
    """Signed Gaussian mixture for ``r exp(-r / eps)``, needed once per solve for <P, C>.

    Fitted relative to the *fitted* kernel: the expected cost of a plan row, (K*C) E / K E, is
    then the distance up to this fit's error whatever the kernel's own error. Distance 0 (value 0)
    is held near 0 against the function's peak, so the identity term stays a small correction.
    Started from the kernel's rates, to a quarter of its accuracy.
    """
    squared = _squared_distances(grid)
    if squared.size == 1:
        return GaussianMixture((), (), 0.0, 0.0)
    rate = 1.0 / grid.epsilon
    distance = np.sqrt(squared)
    kernel = _exponential_mixture(grid)
    fitted = np.exp(-np.asarray(kernel.rates)[None, :] * squared[:, None]) @ np.asarray(
        kernel.weights
    )
    positive = squared > 0
    log_scale = np.full_like(squared, math.log(grid.epsilon / math.e))  # the peak of r e^(-r/eps)
    log_scale[positive] = np.log(distance[positive] * fitted[positive])
    problem = _FitProblem(
        squared=squared,
        log_scale=log_scale,
        offset=positive.astype(np.float64),
        emphasis=np.ones_like(squared),
    )
    rates, weights, error = _fit_gaussians(
        problem,
        rate,
        grid.accuracy * COST_ACCURACY_FACTOR,
        nonnegative=False,
        start=kernel.rates,
    )
    _require_fit(grid, error, "r exp(-r / eps)")
    return GaussianMixture(rates, weights, 0.0, error)


def _require_fit(grid: _Grid, error: float, what: str) -> None:
    if not error <= FAILED_FIT_ERROR:
        raise ValueError(
            f"no accurate Gaussian expansion of {what} for a {grid.height}x{grid.width} grid "
            f"with epsilon={grid.epsilon} (relative error {error:.2g}); use a larger epsilon"
        )


def _squared_distances(grid: _Grid) -> np.ndarray:
    """The distinct squared distances between pixel centres, ascending, starting with 0."""
    dy = np.arange(grid.height, dtype=np.int64)
    dx = np.arange(grid.width, dtype=np.int64)
    squared = np.unique((dy[:, None] ** 2 + dx[None, :] ** 2).ravel())
    return squared.astype(np.float64) * grid.size * grid.size


@dataclass(frozen=True)
class _FitProblem:
    """Fit ``sum_q w_q exp(-s_q d2)`` at squared distances d2: the residual of row i is
    ``(fit_i / exp(log_scale_i) - offset_i) * emphasis_i`` (relative error where offset is 1)."""

    squared: np.ndarray
    log_scale: np.ndarray
    offset: np.ndarray
    emphasis: np.ndarray

    def rows(self, index: np.ndarray) -> _FitProblem:
        return _FitProblem(
            self.squared[index], self.log_scale[index], self.offset[index], self.emphasis[index]
        )

    def design(self, rates: np.ndarray) -> np.ndarray:
        exponent = -rates[None, :] * self.squared[:, None] - self.log_scale[:, None]
        return np.exp(np.minimum(exponent, 300.0))

    def error(self, rates: np.ndarray, weights: np.ndarray) -> float:
        residual = np.abs(self.design(rates) @ weights - self.offset) * self.emphasis
        return float(residual.max()) if np.isfinite(residual).all() else math.inf


def _fit_gaussians(
    problem: _FitProblem,
    rate: float,
    accuracy: float,
    nonnegative: bool,
    start: tuple[float, ...] = (),
) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """Fewest Gaussians whose weighted relative error on ``problem`` is within ``accuracy``.

    For each number of terms: geometric rates with NNLS (or least-squares) weights as a start, then
    rates and weights refined together by Levenberg-Marquardt, reweighted a few times towards the
    largest residuals (minimax). Optimised rates need about half the terms of a fixed geometric
    grid for the same accuracy. ``start``: rates to try first (then at most ``EXTRA_COST_TERMS``
    more terms). The fit uses a few hundred distances; the error is measured on all of them.
    """
    sample = problem.rows(_fitting_sample(problem.squared.size))
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    first = max(2, len(start))
    last = first + EXTRA_COST_TERMS if start else MAX_MIXTURE_TERMS
    for terms in range(first, last + 1):
        if best is None and start:
            rates = np.asarray(start)
            weights = _scaled_lstsq(sample.design(rates), sample.offset)
        else:
            rates, weights = _initial_gaussians(sample, rate, terms, nonnegative)
        rates, weights = _refine_gaussians(sample, rates, weights, nonnegative)
        error = problem.error(rates, weights)
        if best is None or error < best[0]:
            best = (error, rates, weights)
        if best[0] <= accuracy:
            break
    assert best is not None
    error, rates, weights = best
    return tuple(rates.tolist()), tuple(weights.tolist()), error


def _fitting_sample(count: int, size: int = 320) -> np.ndarray:
    """The nearest distances and a geometric spread of the others (the targets are smooth)."""
    if count <= size:
        return np.arange(count)
    near = np.arange(size // 4)
    spread = np.geomspace(size // 4, count - 1, size - size // 4).round().astype(np.int64)
    return np.unique(np.concatenate([near, spread]))


def _initial_gaussians(
    problem: _FitProblem, rate: float, terms: int, nonnegative: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Geometric rates spanning lambda / 2r (the Gaussian tangent to exp(-lambda r) at r) over the
    nonzero distances, weights by (nonnegative) least squares; the best of a few spans."""
    positive = problem.squared[problem.squared > 0]
    nearest, farthest = math.sqrt(positive[0]), math.sqrt(positive[-1])
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for low in (0.3, 0.5, 0.7, 1.0):
        for high in (1.0, 1.4, 2.0, 2.8):
            rates = np.geomspace(rate / (2 * farthest) * low, rate / (2 * nearest) * high, terms)
            design = problem.design(rates)
            if nonnegative:
                weights = nnls(design, problem.offset, maxiter=50 * terms)[0]
            else:
                weights = _scaled_lstsq(design, problem.offset)
            error = problem.error(rates, weights)
            if best is None or error < best[0]:
                best = (error, rates, weights)
    assert best is not None
    keep = best[2] != 0
    return best[1][keep], best[2][keep]


def _scaled_lstsq(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least squares with unit-norm columns (the Gaussians' magnitudes span many decades)."""
    norms = np.linalg.norm(design, axis=0)
    norms[norms == 0] = 1
    return np.linalg.lstsq(design / norms, target, rcond=None)[0] / norms


def _refine_gaussians(
    problem: _FitProblem,
    rates: np.ndarray,
    weights: np.ndarray,
    nonnegative: bool,
    rounds: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg-Marquardt on (log rates, log weights or weights); returns the best iterate."""
    terms = rates.size

    def unpack(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.exp(np.clip(x[:terms], -50.0, 50.0))
        w = np.exp(np.clip(x[terms:], -200.0, 50.0)) if nonnegative else x[terms:]
        return r, w

    def residual(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
        r, w = unpack(x)
        return (problem.design(r) @ w - problem.offset) * scale

    def jacobian(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
        r, w = unpack(x)
        basis = problem.design(r)
        weighted = basis * w[None, :]
        d_rates = -weighted * (r[None, :] * problem.squared[:, None])
        d_weights = weighted if nonnegative else basis
        return np.concatenate([d_rates, d_weights], axis=1) * scale[:, None]

    x = np.concatenate([np.log(rates), np.log(weights) if nonnegative else weights])
    best = (problem.error(*unpack(x)), x)
    scale = problem.emphasis / problem.emphasis.max()
    for _ in range(rounds):
        if x.size > problem.squared.size:
            break
        x = least_squares(
            residual,
            x,
            jac=jacobian,
            args=(scale,),
            method="lm",
            max_nfev=40 * x.size,
            x_scale="jac",
        ).x
        error = np.abs(residual(x, problem.emphasis))
        largest = float(error.max())
        if not math.isfinite(largest):
            break
        if largest < best[0]:
            best = (largest, x)
        if largest == 0:
            break
        scale = np.sqrt(scale**2 * (error / largest + 0.05))
        scale /= scale.max()
    return unpack(best[1])


# --------------------------------------------------------------------------------------------
# Iterations


def _softmin(kernel: SeparableOperator, log_weight: Tensor, potential: Tensor) -> Tensor:
    """``-log sum_j K_ij exp(log_weight_j + potential_j)`` for every map (potentials / eps)."""
    return _softmin_keep(kernel, log_weight, potential)[0]


def _softmin_keep(
    kernel: SeparableOperator, log_weight: Tensor, potential: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """``_softmin`` plus the shifted weights ``exp(w + pot - m)`` and the per-map shift ``m``."""
    exponent = log_weight + potential
    shift = exponent.amax(dim=(-2, -1), keepdim=True)
    weights = exponent.sub_(shift).exp_()
    sums = kernel(weights)
    return sums.log_().add_(shift).neg_(), weights, shift


def _expected_cost(
    weighted_kernel: SeparableOperator, weights: Tensor, shift: Tensor, potential: Tensor
) -> Tensor:
    """Per pixel i, ``sum_j P_ij C_ij / a_i`` for the plan row built by the last ``_softmin_keep``.

    ``(K * C) weights / K weights``, using ``K weights = exp(-potential - shift)``.
    """
    return weighted_kernel(weights).mul_(torch.exp(potential + shift))


def _marginal_error(a: Tensor, potential: Tensor, updated: Tensor) -> Tensor:
    """L1 violation ``sum_i a_i |exp(potential_i - updated_i) - 1|`` per map."""
    return _map_dot(a, torch.sub(potential, updated).expm1_().abs_())


@dataclass(frozen=True)
class _Level:
    a: Tensor
    b: Tensor
    log_a: Tensor
    log_b: Tensor
    size: float


def _pyramid(a: Tensor, b: Tensor, size: float, coarse_to_fine: bool) -> list[_Level]:
    """Levels from coarsest to finest; each coarser level sums 2 x 2 pixel blocks."""
    levels = [_Level(a, b, torch.log(a), torch.log(b), size)]
    while coarse_to_fine:
        _, h, w = levels[-1].a.shape
        if h % 2 or w % 2 or min(h, w) // 2 < COARSEST_SIDE:
            break
        fine = levels[-1]
        ca, cb = _sum_pool(fine.a), _sum_pool(fine.b)
        levels.append(_Level(ca, cb, torch.log(ca), torch.log(cb), 2 * fine.size))
    return levels[::-1]


def _sum_pool(maps: Tensor) -> Tensor:
    """Sum of each 2 x 2 block (the mass of a coarse pixel)."""
    rows = maps[:, 0::2] + maps[:, 1::2]
    return rows[:, :, 0::2] + rows[:, :, 1::2]


def _upsample(potential: Tensor, shape: tuple[int, int]) -> Tensor:
    """Bilinear interpolation between pixel centres, as two small GEMMs."""
    _, height, width = potential.shape
    rows = _bilinear_matrix(shape[0], height, potential.dtype, potential.device)
    columns = _bilinear_matrix(shape[1], width, potential.dtype, potential.device)
    return torch.matmul(torch.matmul(rows, potential), columns.T)


@functools.lru_cache(maxsize=64)
def _bilinear_matrix(fine: int, coarse: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(fine, coarse) linear interpolation from coarse to fine pixel centres, clamped at edges.

    Fine centre i sits at coarse coordinate (i + 0.5) * coarse / fine - 0.5 (same convention as
    ``F.interpolate(..., align_corners=False)``).
    """
    position = np.clip((np.arange(fine) + 0.5) * coarse / fine - 0.5, 0, coarse - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, coarse - 1)
    fraction = position - below
    matrix = np.zeros((fine, coarse))
    np.add.at(matrix, (np.arange(fine), below), 1 - fraction)
    np.add.at(matrix, (np.arange(fine), above), fraction)
    return torch.as_tensor(matrix, dtype=dtype, device=device)


def _map_dot(x: Tensor, y: Tensor) -> Tensor:
    """Per-map sum of x * y over the pixels, (N, H, W) x 2 -> (N,), without a temporary."""
    n = x.shape[0]
    return torch.bmm(x.reshape(n, 1, -1), y.reshape(n, -1, 1)).view(n)


def _epsilon_schedule(options: SinkhornOptions, height: int, width: int) -> list[float]:
    """Epsilons for the coarsest level: the largest cost halved down to epsilon (or epsilon)."""
    schedule: list[float] = []
    if options.epsilon_scaling:
        current = options.max_cost(height, width)
        while current > options.epsilon:
            schedule.append(current)
            current *= EPSILON_SCALING_FACTOR
    return [*schedule, options.epsilon]


def _level_grid(
    options: SinkhornOptions, level: _Level, epsilon: float, finest: bool, like: Tensor
) -> _Grid:
    """The level's grid; coarse levels (warm starts only) get a cheaper Euclidean expansion."""
    _, height, width = level.a.shape
    accuracy = options.kernel_accuracy
    if not finest:
        accuracy = max(accuracy, COARSE_KERNEL_ACCURACY)
    return _Grid(
        options.cost, height, width, level.size, epsilon, accuracy, like.dtype, like.device
    )


def _check_range(options: SinkhornOptions, height: int, width: int) -> float:
    spread = options.max_cost(height, width) / options.epsilon
    if spread > FLOAT64_RANGE:
        raise ValueError(
            f"epsilon={options.epsilon} is too small for {height}x{width} maps with the "
            f"{options.cost} cost in unit {options.unit!r}: max cost / epsilon = {spread:.0f} "
            f"exceeds {FLOAT64_RANGE:.0f}; use a larger epsilon"
        )
    return spread


def solve_dtype(options: SinkhornOptions, maps: Tensor) -> torch.dtype:
    """float32 unless the input is float64 or the cost range needs float64's exponent range."""
    _, height, width = maps.shape
    spread = _check_range(options, height, width)
    if maps.dtype == torch.float64 or spread > FLOAT32_RANGE:
        return torch.float64
    return torch.float32


def check_probability_maps(maps: Tensor, name: str) -> None:
    """(N, H, W), floating point, nonnegative, each map summing to 1 (within 1e-3)."""
    if maps.dim() != 3:
        raise ValueError(
            f"{name} must be (N, H, W) probability maps, got shape {tuple(maps.shape)}"
        )
    if not maps.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {maps.dtype}")
    if maps.numel() == 0:
        raise ValueError(f"{name} is empty: {tuple(maps.shape)}")
    if bool((maps < 0).any()):
        raise ValueError(f"{name} has negative entries; probability maps must be >= 0")
    sums = maps.detach().sum(dim=(-2, -1))
    bad = ((sums - 1).abs() > 1e-3) | ~torch.isfinite(sums)
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{name}[{index}] sums to {float(sums[index]):.6g}; each map must sum to 1"
        )


def check_map_pair(a: Tensor, b: Tensor) -> None:
    """Both are valid probability maps (``check_probability_maps``) of the same shape."""
    check_probability_maps(a, "a")
    check_probability_maps(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"maps a {tuple(a.shape)} and b {tuple(b.shape)} differ in shape")


def sinkhorn(a: Tensor, b: Tensor, options: SinkhornOptions | None = None) -> SinkhornResult:
    """Solve entropic OT between each pair of probability maps ``a[n]``, ``b[n]`` (N, H, W).

    Plain solve without autograd (``sinkhorn_cost`` is the differentiable entry point). The
    result's tensors have the input dtype; the solve itself runs in ``solve_dtype``.
    """
    options = options or SinkhornOptions()
    check_map_pair(a, b)
    dtype = solve_dtype(options, a)
    with torch.no_grad():
        result = _solve_pair(a.detach().to(dtype), b.detach().to(dtype), options)
    return SinkhornResult(
        transport=result.transport.to(a.dtype),
        entropic=result.entropic.to(a.dtype),
        f=result.f.to(a.dtype),
        g=result.g.to(a.dtype),
        iterations=result.iterations,
        marginal_error=result.marginal_error.to(a.dtype),
    )


def _solve_pair(a: Tensor, b: Tensor, options: SinkhornOptions) -> SinkhornResult:
    _, height, width = a.shape
    levels = _pyramid(a, b, options.pixel_size(height, width), options.coarse_to_fine)
    eps = options.epsilon
    schedule = _epsilon_schedule(options, height, width)

    # Coarsest level, epsilon scaling: one iteration per epsilon above the target.
    coarsest = levels[0]
    phi = torch.zeros_like(coarsest.a)  # potentials are kept divided by the current epsilon
    for current, following in itertools.pairwise(schedule):
        kernel = gibbs_kernel(_level_grid(options, coarsest, current, False, a))
        psi = _softmin(kernel, coarsest.log_a, phi)
        phi = _softmin(kernel, coarsest.log_b, psi).mul_(current / following)

    iterations = 0
    error = weights = shift = psi = phi
    for index, level in enumerate(levels):
        if index > 0:
            phi = _upsample(phi, (level.a.shape[-2], level.a.shape[-1]))
        grid = _level_grid(options, level, eps, index == len(levels) - 1, a)
        kernel = gibbs_kernel(grid)
        for iterations in range(1, options.max_iterations + 1):  # noqa: B007
            psi = _softmin(kernel, level.log_a, phi)
            updated, weights, shift = _softmin_keep(kernel, level.log_b, psi)
            error = _marginal_error(level.a, phi, updated)
            phi = updated
            if float(error.max()) <= options.tolerance:
                break
    ratio = _expected_cost(cost_weighted_kernel(grid), weights, shift, phi)
    transport = _map_dot(a, ratio)
    entropic = eps * (_map_dot(a, phi) + _map_dot(b, psi))
    return SinkhornResult(transport, entropic, eps * phi, eps * psi, iterations, error)


def _solve_self(a: Tensor, options: SinkhornOptions) -> tuple[Tensor, Tensor, Tensor]:
    """OT_eps(a, a): (transport, entropic, f), with the symmetric averaged iteration.

    The symmetric problem has one potential (f = g); averaging ``f <- (f + T(f)) / 2`` converges
    in a few iterations (Feydy et al. 2019). Used for the debiased Sinkhorn divergence.
    """
    _, height, width = a.shape
    levels = _pyramid(a, a, options.pixel_size(height, width), options.coarse_to_fine)
    eps = options.epsilon
    schedule = _epsilon_schedule(options, height, width)
    coarsest = levels[0]
    phi = torch.zeros_like(coarsest.a)
    for current, following in itertools.pairwise(schedule):
        kernel = gibbs_kernel(_level_grid(options, coarsest, current, False, a))
        phi = phi.add_(_softmin(kernel, coarsest.log_a, phi)).mul_(0.5 * current / following)

    updated = weights = shift = phi
    for index, level in enumerate(levels):
        if index > 0:
            phi = _upsample(phi, (level.a.shape[-2], level.a.shape[-1]))
        grid = _level_grid(options, level, eps, index == len(levels) - 1, a)
        kernel = gibbs_kernel(grid)
        for step in range(1, options.max_iterations + 1):
            updated, weights, shift = _softmin_keep(kernel, level.log_a, phi)
            error = _marginal_error(level.a, phi, updated)
            if float(error.max()) <= options.tolerance or step == options.max_iterations:
                break
            phi = 0.5 * (phi + updated)
    # The last update is exact for rows given phi: the plan (updated, phi) is the one evaluated.
    ratio = _expected_cost(cost_weighted_kernel(grid), weights, shift, updated)
    transport = _map_dot(a, ratio)
    entropic = eps * (_map_dot(a, updated) + _map_dot(a, phi))
    return transport, entropic, eps * 0.5 * (phi + updated)


# --------------------------------------------------------------------------------------------
# Differentiable value


class _SinkhornValue(torch.autograd.Function):
    """Per-map value; backward scales the potentials saved by forward (nothing is unrolled)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx,
        a: Tensor,
        b: Tensor,
        options: SinkhornOptions,
        value: LossValue,
        debiased: bool,
    ) -> Tensor:
        needs_a, needs_b = ctx.needs_input_grad[:2]  # type: ignore[attr-defined]
        dtype = solve_dtype(options, a)
        with torch.no_grad():
            a_solve, b_solve = a.detach().to(dtype), b.detach().to(dtype)
            pair = _solve_pair(a_solve, b_solve, options)
            values = pair.transport if value == "transport" else pair.entropic
            grad_a, grad_b = pair.f, pair.g
            if debiased:
                transport_a, entropic_a, f_a = _solve_self(a_solve, options)
                transport_b, entropic_b, f_b = _solve_self(b_solve, options)
                if value == "transport":
                    values = values - 0.5 * (transport_a + transport_b)
                else:
                    values = values - 0.5 * (entropic_a + entropic_b)
                grad_a, grad_b = grad_a - f_a, grad_b - f_b
        ctx.save_for_backward(  # type: ignore[attr-defined]
            grad_a.to(a.dtype) if needs_a else None, grad_b.to(b.dtype) if needs_b else None
        )
        return values.to(a.dtype)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: torch.autograd.function.FunctionCtx, grad_values: Tensor
    ) -> tuple[Tensor | None, Tensor | None, None, None, None]:
        potentials = ctx.saved_tensors  # type: ignore[attr-defined]
        scale = grad_values[:, None, None]

        def gradient(potential: Tensor | None) -> Tensor | None:
            # Projected on the simplex: a constant shift is not a direction a distribution moves.
            if potential is None:
                return None
            return (potential - potential.mean(dim=(-2, -1), keepdim=True)).mul_(scale)

        return gradient(potentials[0]), gradient(potentials[1]), None, None, None


def sinkhorn_cost(
    a: Tensor,
    b: Tensor,
    options: SinkhornOptions | None = None,
    *,
    value: LossValue = "transport",
    debiased: bool = False,
) -> Tensor:
    """Differentiable entropic OT value of each pair of probability maps (N, H, W) -> (N,).

    value: ``transport`` = <P, C> of the entropic plan (POT's ``sinkhorn2``), or ``entropic`` =
        OT_eps(a, b) = <P, C> + eps KL(P | a (x) b).
    debiased: subtract half of the same quantity for (a, a) and for (b, b); with ``entropic``
        this is the Sinkhorn divergence S_eps(a, b), >= 0 and zero iff a = b.
    Gradient (w.r.t. a and b, projected on the simplex): the dual potentials at convergence,
    i.e. the exact gradient of OT_eps (or of S_eps when debiased) whichever ``value`` reports.
    """
    options = options or SinkhornOptions()
    if value not in get_args(LossValue):
        raise ValueError(f"value must be one of {get_args(LossValue)}, got {value!r}")
    check_map_pair(a, b)
    return sinkhorn_value(a, b, options, value=value, debiased=debiased)


def sinkhorn_value(
    a: Tensor,
    b: Tensor,
    options: SinkhornOptions,
    *,
    value: LossValue = "transport",
    debiased: bool = False,
) -> Tensor:
    """``sinkhorn_cost`` without the input checks, for callers that build valid maps (losses)."""
    result: Tensor = _SinkhornValue.apply(a, b, options, value, debiased)
    return result
