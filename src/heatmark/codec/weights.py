"""Loss weight maps of the Adaptive Wing paper.

The weighted loss map puts weight ``W + 1`` on foreground pixels and on the hard background
pixels around them, and 1 elsewhere: ``W * M + 1`` with M = 1 where the 3x3 grey dilation of the
target heatmap is >= 0.2 (paper: W = 10). The baseline the paper compares against weights each
pixel by its target value: ``W * H + 1``. Both are computed from the target on the fly (on the
training device), for landmark and boundary channels alike.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def dilated_weight_map(
    target: Tensor, weight: float = 10.0, threshold: float = 0.2, kernel: int = 3
) -> Tensor:
    """``W * M + 1`` with M = (grey_dilation(target, kernel x kernel) >= threshold)."""
    if kernel % 2 != 1:
        raise ValueError(f"dilation kernel must be odd, got {kernel}")
    dilated = F.max_pool2d(target, kernel_size=kernel, stride=1, padding=kernel // 2)
    return weight * (dilated >= threshold).to(target.dtype) + 1.0


def heatmap_weight_map(target: Tensor, weight: float = 10.0) -> Tensor:
    """The baseline ``W * H + 1``: weight grows with the target value."""
    return weight * target + 1.0
