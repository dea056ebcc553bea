"""Heatmaps -> points: GET_MAX (argmax + quarter-pixel shift) and GET_BC (barycenter).

GET_BC follows the 2D Wasserstein paper: the map is turned into a distribution (softmax of the
logits, or the rectified map normalised to sum 1) and its barycenter is the point. A barycenter is
pulled towards the inside when the map is cut by the border; for a Gaussian of known sigma that
pull is a known monotone function of the true centre, so we invert it (``border_sigma``): for a
window around the maximum with a table of the inverse (``border_pull_table``), for the whole map
with a few Newton steps. Far from the border the correction is the identity.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def decode_max(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """GET_MAX: argmax, then a quarter-pixel step towards the higher neighbour on each axis.

    At the border the missing neighbour counts as lower, so the step goes inwards; points whose
    true position lies between the outermost pixel centres are recovered within 0.25 px.

    Args:
        heatmaps: (..., H, W).

    Returns:
        coords (..., 2) x, y in heatmap pixels, and scores (...,) the maximum values.
    """
    *lead, height, width = heatmaps.shape
    flat = heatmaps.reshape(-1, height * width)
    scores, index = flat.max(dim=-1)
    ys = torch.div(index, width, rounding_mode="floor")
    xs = index - ys * width
    padded = F.pad(flat.reshape(-1, height, width), (1, 1, 1, 1), value=float("-inf"))
    rows = torch.arange(padded.shape[0], device=heatmaps.device)
    right = padded[rows, ys + 1, xs + 2]
    left = padded[rows, ys + 1, xs]
    below = padded[rows, ys + 2, xs + 1]
    above = padded[rows, ys, xs + 1]
    dx = 0.25 * torch.sign(right - left).nan_to_num(0.0)
    dy = 0.25 * torch.sign(below - above).nan_to_num(0.0)
    coords = torch.stack([xs.to(heatmaps.dtype) + dx, ys.to(heatmaps.dtype) + dy], dim=-1)
    return coords.reshape(*lead, 2), scores.reshape(lead)


def _truncated_gaussian_mean(
    u: Tensor, lo: Tensor, hi: Tensor, sigma: float, size: int
) -> tuple[Tensor, Tensor]:
    """Mean and variance of a sampled 1-D Gaussian centred at ``u``, cut to pixels [lo, hi]."""
    grid = torch.arange(size, dtype=u.dtype, device=u.device)
    inside = (grid >= lo.unsqueeze(-1)) & (grid <= hi.unsqueeze(-1))
    logits = -((grid - u.unsqueeze(-1)) ** 2) / (2 * sigma**2)
    weights = torch.softmax(logits.masked_fill(~inside, float("-inf")), dim=-1)
    mean = (weights * grid).sum(-1)
    var = (weights * (grid - mean.unsqueeze(-1)) ** 2).sum(-1)
    return mean, var


NEWTON_STEPS = 8
"""Newton steps of the whole-map border-pull correction: 3 recover a sampled Gaussian's centre
to 1e-5 map pixels when it lies on the map, but a centre up to 3 pixels off the map (a landmark
outside the crop) needs 6 for 2e-4 pixels; 8 leave margin. (Windowed decoding reads
``border_pull_table`` instead.)"""


def _undo_border_pull(
    observed: Tensor, lo: Tensor, hi: Tensor, sigma: float, size: int, steps: int = NEWTON_STEPS
) -> Tensor:
    """Solve mean_[lo, hi](u) = observed for u (Newton; d mean / du = var / sigma^2)."""
    u = observed.clone()
    for _ in range(steps):
        mean, var = _truncated_gaussian_mean(u, lo, hi, sigma, size)
        u = u - (mean - observed) * sigma**2 / var.clamp_min(1e-6)
    return u


BORDER_TABLE_SAMPLES = 2049
"""Barycenter positions per window width in ``border_pull_table``: linear interpolation between
them recovers a sampled Gaussian's centre to 2e-5 map pixels when the centre lies on the map."""


@lru_cache(maxsize=16)
def border_pull_table(sigma: float, window: int) -> Tensor:
    """The inverse of the border pull for windows of up to ``2 window + 1`` pixels, tabulated.

    Row ``n - 1`` serves a window of ``n`` pixels (cut by the map's border when ``n`` is less
    than ``2 window + 1``): column ``j`` holds the centre ``u`` of the sampled Gaussian (sigma
    ``sigma``) whose mean over the window's pixels 0..n-1 is ``b = j (n - 1) / (S - 1)``, both
    from the window's first pixel; ``u`` is kept within ``window + 1`` pixels of the window.
    A lookup and an interpolation replace the Newton iterations (the fast model's decoder
    spent a fifth of its landmark stage in them), with the same result (``tests/codec``).
    """
    samples = BORDER_TABLE_SAMPLES
    rows = np.zeros((2 * window + 1, samples))
    for n in range(2, 2 * window + 2):
        pixels = np.arange(n, dtype=np.float64)
        centres = np.linspace(-(window + 1.0), n + window, 40_001)
        logits = -((pixels[None] - centres[:, None]) ** 2) / (2 * sigma**2)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        means = (weights * pixels).sum(axis=1) / weights.sum(axis=1)
        rows[n - 1] = np.interp(np.linspace(0.0, n - 1.0, samples), means, centres)
    return torch.tensor(rows, dtype=torch.float32)


def undo_window_pull(
    observed: Tensor, lo: Tensor, hi: Tensor, table: Tensor, window: int
) -> Tensor:
    """The Gaussian centre whose mean over the pixels [lo, hi] (a window of at most
    ``2 window + 1``) is ``observed``, read from ``border_pull_table`` (all on one axis; any
    shape, ``lo`` and ``hi`` whole pixels). Written with ONNX-exportable operators only."""
    samples = table.shape[-1]
    pixels = hi - lo + 1
    scale = (samples - 1) / (pixels - 1).clamp_min(1)
    position = ((observed - lo) * scale).clamp(0, samples - 1)
    left = position.floor().clamp_max(samples - 2)
    weight = position - left
    index = ((pixels - 1) * samples + left).long()
    flat = table.flatten()
    below, above = flat[index], flat[index + 1]
    return lo + below + weight * (above - below)


def decode_barycenter(
    heatmaps: Tensor,
    softmax: bool = True,
    window: int | None = None,
    border_sigma: float | None = None,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """GET_BC: the barycenter of the heatmap as a distribution.

    Args:
        heatmaps: (..., H, W) network output.
        softmax: True: the distribution is softmax over the pixels (logit outputs, as trained by
            the Wasserstein loss); False: the map clamped at 0 and normalised to sum 1.
        window: if given, only pixels within this radius (Chebyshev) of the argmax count.
        border_sigma: the target sigma; if given, undo the inward pull of the border (exact for
            Gaussian maps of this sigma).
        temperature: with ``softmax``, the distribution is softmax(map / temperature): the same
            temperature the loss trained with, or the barycenter is of another distribution.

    Returns:
        coords (..., 2) x, y in heatmap pixels, and scores (...,) the maximum values.
    """
    *lead, height, width = heatmaps.shape
    maps = heatmaps.reshape(-1, height, width).to(torch.float32)
    scores = maps.amax(dim=(-2, -1))
    n = maps.shape[0]
    if window is None:
        x_lo = torch.zeros(n, device=maps.device)
        y_lo = torch.zeros(n, device=maps.device)
        x_hi = torch.full((n,), width - 1.0, device=maps.device)
        y_hi = torch.full((n,), height - 1.0, device=maps.device)
    else:
        peak, _ = decode_max(maps)
        centre = peak.round()
        x_lo = (centre[:, 0] - window).clamp_min(0)
        x_hi = (centre[:, 0] + window).clamp_max(width - 1)
        y_lo = (centre[:, 1] - window).clamp_min(0)
        y_hi = (centre[:, 1] + window).clamp_max(height - 1)
    xs = torch.arange(width, dtype=maps.dtype, device=maps.device)
    ys = torch.arange(height, dtype=maps.dtype, device=maps.device)
    inside = ((ys >= y_lo[:, None]) & (ys <= y_hi[:, None]))[:, :, None] & (
        (xs >= x_lo[:, None]) & (xs <= x_hi[:, None])
    )[:, None, :]
    if softmax:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        flat = (maps / temperature).masked_fill(~inside, float("-inf")).reshape(n, -1)
        prob = torch.softmax(flat, dim=-1).reshape(n, height, width)
    else:
        mass = maps.clamp_min(0) * inside
        total = mass.sum(dim=(-2, -1), keepdim=True)
        # An all-zero map has no barycenter: fall back to the uniform distribution on the window.
        uniform = inside.to(maps.dtype) / inside.sum(dim=(-2, -1), keepdim=True)
        prob = torch.where(total > 0, mass / total.clamp_min(1e-30), uniform)
    bx = (prob.sum(dim=-2) * xs).sum(-1)
    by = (prob.sum(dim=-1) * ys).sum(-1)
    if border_sigma is not None and window is not None:
        table = border_pull_table(float(border_sigma), int(window)).to(bx.device)
        bx = undo_window_pull(bx, x_lo, x_hi, table, window)
        by = undo_window_pull(by, y_lo, y_hi, table, window)
    elif border_sigma is not None:
        bx = _undo_border_pull(bx, x_lo, x_hi, border_sigma, width)
        by = _undo_border_pull(by, y_lo, y_hi, border_sigma, height)
    coords = torch.stack([bx, by], dim=-1).to(heatmaps.dtype)
    return coords.reshape(*lead, 2), scores.reshape(lead).to(heatmaps.dtype)
