"""Speed and accuracy of the 2D Wasserstein (Sinkhorn) loss against the obvious implementations.

One batch of B x K maps (default 16 x 68, 64 x 64, the HG output for 68 points), epsilon 0.05 with
the map side = 1, float32, forward + backward of the whole loss (softmax included), timed in one
run so the ratios are comparable on a shared, noisy CPU (median of --repeats runs; the slow
baselines run once). Methods:

- ``POT loop``: ``ot.sinkhorn2(a, b, M, eps)`` per pair on the dense float64 cost (POT's defaults,
  which converge here), forward only, timed on --pot-pairs pairs and extrapolated to the batch. Its
  values are the reference for every accuracy column.
- ``dense GEMM``: log-domain Sinkhorn with the shared (HW x HW) kernel, one batched GEMM per half
  iteration, 100 iterations, gradient through the last iteration (Euclidean only).
- ``plain separable``: log-domain Sinkhorn with the separable kernel Kx E Ky^T (per-map max shift),
  100 iterations, gradient through the last iteration (``sqeuclidean`` and ``l1``).
- ``heatmark``: ``WassersteinLoss`` (coarse to fine, epsilon scaling, tolerance stop, envelope
  gradient).
- ``MSE``: ``F.mse_loss`` on the same tensors, for scale.

Accuracy: largest relative error of the per-map value (transport cost <P, C>) over the POT pairs.

    .venv/bin/python benchmarks/bench_wasserstein.py            # full table (a few minutes)
    .venv/bin/python benchmarks/bench_wasserstein.py --quick    # small batch, fewer baselines
    .venv/bin/python benchmarks/bench_wasserstein.py --training # also HG-1 256 training steps
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import ot
import torch
import torch.nn.functional as F
from torch import Tensor

from heatmark.codec.gaussian import gaussian_heatmaps
from heatmark.losses.sinkhorn import GroundCost
from heatmark.losses.wasserstein import WassersteinLoss

PLAIN_ITERATIONS = 100


@dataclass
class Row:
    method: str
    cost: str
    seconds: float
    error: float | None
    note: str = ""


def make_batch(
    batch: int, points: int, size: int, sigma: float, seed: int
) -> tuple[Tensor, Tensor]:
    """Codec targets (peak-1 Gaussians) and logits between 'untrained' and 'trained'.

    Logits are unit noise plus a Gaussian bump of random height in [0, 8] placed a few pixels off
    the target, so the batch spans flat, noisy softmaxes and peaked ones near the landmark.
    """
    generator = torch.Generator().manual_seed(seed)
    centres = 4 + torch.rand(batch, points, 2, generator=generator) * (size - 8)
    target = gaussian_heatmaps(centres, size, size, sigma)
    offset = centres + 3 * torch.randn(batch, points, 2, generator=generator)
    height = 8 * torch.rand(batch, points, 1, 1, generator=generator)
    noise = torch.randn(batch, points, size, size, generator=generator)
    logits = noise + height * gaussian_heatmaps(offset, size, size, 2.0)
    return logits, target


def distributions(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    n = logits.shape[0] * logits.shape[1]
    size = logits.shape[-1]
    a = torch.softmax(logits.reshape(n, -1), dim=-1).reshape(n, size, size)
    b = target.reshape(n, -1)
    b = (b / b.sum(-1, keepdim=True)).reshape(n, size, size)
    return a, b


def grid_cost(cost: GroundCost, size: int) -> np.ndarray:
    coords = (np.arange(size) + 0.5) / size
    ys, xs = np.meshgrid(coords, coords, indexing="ij")
    points = np.stack([ys.ravel(), xs.ravel()], 1)
    difference = points[:, None, :] - points[None, :, :]
    if cost == "euclidean":
        return np.sqrt((difference**2).sum(-1))
    if cost == "sqeuclidean":
        return (difference**2).sum(-1)
    return np.abs(difference).sum(-1)


def axis_cost(cost: GroundCost, size: int) -> Tensor:
    offsets = (torch.arange(size)[:, None] - torch.arange(size)[None, :]).double() / size
    return offsets**2 if cost == "sqeuclidean" else offsets.abs()


def timed(step: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------
# Baselines


def pot_loop(
    a: Tensor, b: Tensor, cost: GroundCost, eps: float, pairs: int, renormalise: bool = True
) -> tuple[float, np.ndarray]:
    """Seconds per pair and the values of the first ``pairs`` pairs (POT defaults, float64).

    ``renormalise``: rescale each map to sum 1 in float64 first. Without it the float32 sums
    differ by ~1e-7, so POT never meets its 1e-9 marginal tolerance and runs its 1000 iterations
    on every pair (same value, ~25x the time).
    """
    matrix = grid_cost(cost, a.shape[-1])
    values = []
    start = time.perf_counter()
    for index in range(pairs):
        first = a[index].double().flatten().numpy()
        second = b[index].double().flatten().numpy()
        if renormalise:
            first, second = first / first.sum(), second / second.sum()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Sinkhorn did not converge" without renormalising
            values.append(float(ot.sinkhorn2(first, second, matrix, eps)))
    return (time.perf_counter() - start) / pairs, np.array(values)


_Softmin = tuple[Tensor, Tensor, Tensor]


def _softmin_dense(kernel: Tensor, log_weight: Tensor, potential: Tensor) -> _Softmin:
    exponent = log_weight + potential
    shift = exponent.amax(dim=-1, keepdim=True)
    weights = torch.exp(exponent - shift)
    return -(torch.log(weights @ kernel) + shift), weights, shift


def dense_gemm(logits: Tensor, target: Tensor, cost: GroundCost, eps: float) -> Tensor:
    """Per-map transport cost; gradient flows through the last of 100 log-domain iterations."""
    a, b = distributions(logits, target)
    n = a.shape[0]
    a, b = a.reshape(n, -1), b.reshape(n, -1)
    matrix = torch.as_tensor(grid_cost(cost, logits.shape[-1]), dtype=torch.float32)
    kernel = torch.exp(-matrix / eps)  # symmetric: K^T = K
    weighted = kernel * matrix
    log_a, log_b = torch.log(a), torch.log(b)
    phi = torch.zeros_like(a)
    with torch.no_grad():
        for _ in range(PLAIN_ITERATIONS - 1):
            psi = _softmin_dense(kernel, log_a, phi)[0]
            phi = _softmin_dense(kernel, log_b, psi)[0]
    psi = _softmin_dense(kernel, log_a, phi)[0]
    phi, weights, shift = _softmin_dense(kernel, log_b, psi)
    ratio = (weights @ weighted) * torch.exp(phi + shift)
    return (a * ratio).sum(-1)


def _separable(kx: Tensor, e: Tensor) -> Tensor:
    return torch.matmul(torch.matmul(kx, e), kx.T)


def _softmin_separable(kx: Tensor, log_weight: Tensor, potential: Tensor) -> _Softmin:
    exponent = log_weight + potential
    shift = exponent.amax(dim=(-2, -1), keepdim=True)
    weights = torch.exp(exponent - shift)
    return -(torch.log(_separable(kx, weights)) + shift), weights, shift


def plain_separable(logits: Tensor, target: Tensor, cost: GroundCost, eps: float) -> Tensor:
    """Per-map transport cost, separable log-domain, last-iteration gradient."""
    a, b = distributions(logits, target)
    cx = axis_cost(cost, logits.shape[-1])
    kx = torch.exp(-cx / eps).float()
    kcx = (torch.exp(-cx / eps) * cx).float()
    log_a, log_b = torch.log(a), torch.log(b)
    phi = torch.zeros_like(a)
    with torch.no_grad():
        for _ in range(PLAIN_ITERATIONS - 1):
            psi = _softmin_separable(kx, log_a, phi)[0]
            phi = _softmin_separable(kx, log_b, psi)[0]
    psi = _softmin_separable(kx, log_a, phi)[0]
    phi, weights, shift = _softmin_separable(kx, log_b, psi)
    weighted = torch.matmul(torch.matmul(kcx, weights), kx.T) + torch.matmul(
        torch.matmul(kx, weights), kcx.T
    )
    ratio = weighted * torch.exp(phi + shift)
    return (a * ratio).sum(dim=(-2, -1))


# ---------------------------------------------------------------------------------------------


def relative_error(values: Tensor, reference: np.ndarray) -> float:
    mine = values.detach().double().flatten().numpy()[: len(reference)]
    return float(np.max(np.abs(mine / reference - 1)))


def run_loss_table(args: argparse.Namespace) -> list[Row]:
    logits, target = make_batch(args.batch, args.points, args.size, args.sigma, args.seed)
    maps = args.batch * args.points
    rows: list[Row] = []

    def backward_of(values_fn: Callable[[Tensor], Tensor]) -> Callable[[], Tensor]:
        def step() -> Tensor:
            pred = logits.clone().requires_grad_()
            values = values_fn(pred)
            values.mean().backward()
            return values

        return step

    mse_seconds = timed(backward_of(lambda p: F.mse_loss(p, target).reshape(1)), args.repeats)
    rows.append(Row("MSE (reference)", "-", mse_seconds, None))
    a, b = distributions(logits, target)
    for cost in args.costs:
        per_pair, reference = pot_loop(a, b, cost, args.eps, args.pot_pairs)
        rows.append(
            Row(
                "POT sinkhorn2 loop (extrapolated)",
                cost,
                per_pair * maps,
                0.0,
                f"{per_pair:.2f} s/pair, {args.pot_pairs} pairs, renormalised",
            )
        )
        if cost == "euclidean" and args.pot_as_given_pairs:
            per_pair, values = pot_loop(a, b, cost, args.eps, args.pot_as_given_pairs, False)
            rows.append(
                Row(
                    "POTx maps as given (hits 1000 it)",
                    cost,
                    per_pair * maps,
                    relative_error(torch.as_tensor(values), reference),
                    f"{per_pair:.2f} s/pair, {args.pot_as_given_pairs} pair(s)",
                )
            )
        if cost == "euclidean" and not args.skip_dense:
            dense_step = backward_of(lambda p, c=cost: dense_gemm(p, target, c, args.eps))
            seconds = timed(dense_step, 1)
            rows.append(
                Row(
                    f"dense GEMM log-domain, {PLAIN_ITERATIONS} it",
                    cost,
                    seconds,
                    relative_error(dense_step(), reference),
                )
            )
        if cost != "euclidean":
            plain_step = backward_of(lambda p, c=cost: plain_separable(p, target, c, args.eps))
            seconds = timed(plain_step, 1)
            rows.append(
                Row(
                    f"plain separable log-domain, {PLAIN_ITERATIONS} it",
                    cost,
                    seconds,
                    relative_error(plain_step(), reference),
                )
            )
        tolerances = [args.tolerance, *([args.loose_tolerance] if args.loose_tolerance else [])]
        for tolerance in tolerances:
            loss = WassersteinLoss(cost=cost, epsilon=args.eps, tolerance=tolerance)

            def per_map(p: Tensor, fn: WassersteinLoss = loss) -> Tensor:
                return fn.per_map(p, target)

            ours = backward_of(per_map)
            ours()  # warm-up: kernel fits and caches
            seconds = timed(ours, args.repeats)
            error = relative_error(ours(), reference)
            rows.append(
                Row(f"heatmark WassersteinLoss, tolerance {tolerance:g}", cost, seconds, error)
            )
    return rows


def print_table(rows: list[Row]) -> None:
    seconds = {(row.method.split(" ")[0], row.cost): row.seconds for row in rows}
    mse = seconds[("MSE", "-")]
    print(
        "| method | cost | seconds | x MSE time | speed-up vs POT | vs POT as given "
        "| vs dense GEMM | vs plain separable | max rel. error vs POT | note |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        mine = row.method.startswith("heatmark")

        def speedup(key: str, row: Row = row, applies: bool = True) -> str:
            base = seconds.get((key, row.cost))
            if base is None or not applies or row.method.startswith(key):
                return ""
            return f"{base / row.seconds:,.1f}x"

        error = "" if row.error is None else f"{row.error:.1e}"
        print(
            f"| {row.method.replace('POTx', 'POT sinkhorn2,')} | {row.cost} | {row.seconds:,.3f} | "
            f"{row.seconds / mse:,.0f} | {speedup('POT')} | {speedup('POTx', applies=mine)} | "
            f"{speedup('dense', applies=mine)} | "
            f"{speedup('plain', applies=mine)} | {error} | {row.note} |"
        )


def run_training(args: argparse.Namespace) -> None:
    from heatmark.models.hourglass import StackedHourglass

    torch.manual_seed(args.seed)
    model = StackedHourglass(num_points=args.points, num_stacks=1)
    images = torch.randn(args.train_batch, 3, 256, 256)
    _, target = make_batch(args.train_batch, args.points, 64, args.sigma, args.seed)
    losses: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
        "MSE": lambda p, t: F.mse_loss(p, t),
        "Wasserstein (euclidean)": WassersteinLoss(epsilon=args.eps, tolerance=args.tolerance),
    }

    def step(loss_fn: Callable[[Tensor, Tensor], Tensor]) -> None:
        model.zero_grad(set_to_none=True)
        outputs = model(images)
        total = sum(loss_fn(out, target) for out in outputs)
        assert isinstance(total, Tensor)
        total.backward()

    for loss_fn in losses.values():
        step(loss_fn)  # warm-up
    times = {name: [] for name in losses}
    for _ in range(args.train_repeats):
        for name, loss_fn in losses.items():  # interleaved: same machine state for both
            start = time.perf_counter()
            step(loss_fn)
            times[name].append(time.perf_counter() - start)
    print(
        f"\nHG-1 (num_stacks=1) at 256, batch {args.train_batch}, forward + backward, "
        f"median of {args.train_repeats}:\n"
    )
    print("| loss | seconds / step | x MSE step |")
    print("|---|---|---|")
    base = statistics.median(times["MSE"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.3f} | {median / base:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--points", type=int, default=68)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--sigma", type=float, default=3.0, help="target sigma, heatmap pixels")
    parser.add_argument("--eps", type=float, default=0.05, help="epsilon, map side = 1")
    parser.add_argument("--tolerance", type=float, default=1e-2, help="heatmark's default")
    parser.add_argument(
        "--loose-tolerance",
        type=float,
        default=3e-2,
        help="a second, looser heatmark row (0: skip)",
    )
    parser.add_argument("--costs", nargs="+", default=["euclidean", "sqeuclidean", "l1"])
    parser.add_argument("--pot-pairs", type=int, default=4)
    parser.add_argument(
        "--pot-as-given-pairs",
        type=int,
        default=1,
        help="pairs for the POT run on float32-normalised maps (0: skip)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-dense", action="store_true", help="skip the ~1 min dense GEMM")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 x 68 maps, 2 POT pairs, no dense GEMM: a smoke run in seconds",
    )
    parser.add_argument(
        "--training",
        action="store_true",
        help="also time HG-1 256 training steps with Wasserstein vs MSE",
    )
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-repeats", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.batch, args.pot_pairs, args.repeats, args.skip_dense = 2, 2, 3, True
        args.pot_as_given_pairs = 0
        args.train_batch, args.train_repeats = 2, 2
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{args.batch} x {args.points} maps of {args.size}x{args.size}, eps {args.eps} "
        f"(map side 1), target sigma {args.sigma}, tolerance {args.tolerance}\n"
    )
    print_table(run_loss_table(args))
    if args.training:
        run_training(args)


if __name__ == "__main__":
    main()
