"""Gaussian landmark heatmaps, centred at sub-pixel positions (no rounding of the centre)."""

from __future__ import annotations

import torch
from torch import Tensor


def gaussian_heatmaps(coords: Tensor, height: int, width: int, sigma: float) -> Tensor:
    """One unnormalised Gaussian (peak 1) per point.

    Args:
        coords: (..., K, 2) x, y in heatmap pixel coordinates (0-based pixel centres).
        sigma: standard deviation in heatmap pixels.

    Returns:
        (..., K, height, width) float32: exp(-((i - x)^2 + (j - y)^2) / (2 sigma^2)), built as the
        outer product of two 1-D Gaussians (separable, cheap, exact).
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    coords = coords.to(torch.float32)
    xs = torch.arange(width, dtype=torch.float32, device=coords.device)
    ys = torch.arange(height, dtype=torch.float32, device=coords.device)
    gx = torch.exp(-((xs - coords[..., 0:1]) ** 2) / (2 * sigma**2))  # (..., K, W)
    gy = torch.exp(-((ys - coords[..., 1:2]) ** 2) / (2 * sigma**2))  # (..., K, H)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)
