"""Convolution + BatchNorm (+ ReLU): the unit that can be folded into one convolution.

In eval mode a BatchNorm is a per-channel affine map, so ``bn(conv(x))`` equals a convolution
with rescaled weights and a shifted bias. ``ConvNorm.fuse_()`` does that fold in place; the
models build every conv-then-BN pair from ``ConvNorm`` so that ``fuse_for_inference`` finds
them all without pattern matching on module names.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from heatmark.models.coordconv import CoordConv2d, fold_into_bias


class ConvNorm(nn.Module):
    """``conv`` -> BatchNorm2d -> optional ReLU; ``fuse_()`` folds the BatchNorm into ``conv``."""

    def __init__(self, conv: nn.Module, out_channels: int, relu: bool = True) -> None:
        super().__init__()
        if not isinstance(conv, nn.Conv2d | CoordConv2d):
            raise TypeError(f"ConvNorm needs nn.Conv2d or CoordConv2d, got {type(conv).__name__}")
        self.conv = conv
        self.norm: nn.Module = nn.BatchNorm2d(out_channels)
        self.relu = relu
        self.fused = False

    @torch.no_grad()
    def fuse_(self) -> None:
        """Fold the BatchNorm's running statistics into the convolution (inference only)."""
        if self.fused:
            return
        norm = self.norm
        if not isinstance(norm, nn.BatchNorm2d) or norm.running_var is None:
            raise RuntimeError("ConvNorm.fuse_ needs a BatchNorm2d with running statistics")
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias - norm.running_mean * scale
        if isinstance(self.conv, CoordConv2d):
            self.conv.fold_affine_(scale, shift)
        else:
            self.conv.weight.mul_(scale.view(-1, 1, 1, 1))
            fold_into_bias(self.conv, scale, shift)
        self.norm = nn.Identity()
        self.fused = True

    def forward(self, x: Tensor) -> Tensor:
        out = self.norm(self.conv(x))
        return nn.functional.relu(out, inplace=True) if self.relu else out
