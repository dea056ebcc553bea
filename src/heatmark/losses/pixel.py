"""Plain per-pixel regression losses on heatmaps: MSE (the usual baseline) and L1."""

from __future__ import annotations

from torch import Tensor

from heatmark.losses.base import PixelLoss


class MSELoss(PixelLoss):
    """Mean squared error per pixel."""

    def pixel_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        return (pred - target) ** 2


class L1Loss(PixelLoss):
    """Mean absolute error per pixel."""

    def pixel_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        return (pred - target).abs()
