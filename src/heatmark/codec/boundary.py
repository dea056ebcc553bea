"""The boundary heatmap of the Adaptive Wing paper (after LAB, Wu et al. 2018).

Each boundary line is the polyline through its landmarks; a pixel's value is a Gaussian of its
distance D to the nearest line, exp(-D^2 / (2 sigma^2)) for D < 3 sigma and 0 beyond, and the
lines are merged into one channel by a pixel-wise max. Distances are exact point-to-segment
distances (the analytic form of the distance transform), so the map is sub-pixel accurate.
"""

from __future__ import annotations

import torch
from torch import Tensor

from heatmark.schemes import Boundary


def boundary_segments(boundaries: tuple[Boundary, ...]) -> tuple[Tensor, Tensor]:
    """Start and end landmark indices of every segment of every line, as two (S,) tensors."""
    starts = [b.indices[i] for b in boundaries for i in range(len(b.indices) - 1)]
    ends = [b.indices[i + 1] for b in boundaries for i in range(len(b.indices) - 1)]
    return torch.tensor(starts, dtype=torch.long), torch.tensor(ends, dtype=torch.long)


def boundary_heatmap(
    coords: Tensor, boundaries: tuple[Boundary, ...], height: int, width: int, sigma: float
) -> Tensor:
    """(..., K, 2) heatmap coordinates -> (..., height, width) boundary map in [0, 1]."""
    if not boundaries:
        raise ValueError("the scheme defines no boundary lines")
    starts, ends = boundary_segments(boundaries)
    coords = coords.to(torch.float32)
    a = coords[..., starts.to(coords.device), :]  # (..., S, 2)
    b = coords[..., ends.to(coords.device), :]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32, device=coords.device),
        torch.arange(width, dtype=torch.float32, device=coords.device),
        indexing="ij",
    )
    pixels = torch.stack([xs, ys], dim=-1).reshape(-1, 2)  # (P, 2)
    ab = (b - a).unsqueeze(-2)  # (..., S, 1, 2)
    ap = pixels - a.unsqueeze(-2)  # (..., S, P, 2)
    length2 = (ab**2).sum(-1).clamp_min(1e-12)
    t = ((ap * ab).sum(-1) / length2).clamp(0.0, 1.0)  # projection onto the segment
    distance2 = ((ap - t.unsqueeze(-1) * ab) ** 2).sum(-1).amin(dim=-2)  # (..., P)
    heat = torch.exp(-distance2 / (2 * sigma**2))
    heat = torch.where(distance2 < (3 * sigma) ** 2, heat, torch.zeros_like(heat))
    return heat.reshape(*coords.shape[:-2], height, width)
