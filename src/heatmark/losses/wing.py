"""Wing loss (Feng et al., CVPR 2018), applied per heatmap pixel.

wing(x) = w ln(1 + |x| / eps)  for |x| < w,  |x| - C otherwise,  C = w - w ln(1 + w / eps),
with x = pred - target; the default w = 10, eps = 2 are the paper's.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from heatmark.losses.base import PixelLoss, WeightMap


class WingLoss(PixelLoss):
    def __init__(
        self, omega: float = 10.0, epsilon: float = 2.0, weight_map: WeightMap | None = None
    ) -> None:
        super().__init__(weight_map)
        if omega <= 0 or epsilon <= 0:
            raise ValueError("Wing loss needs omega > 0 and epsilon > 0")
        self.omega = omega
        self.epsilon = epsilon
        self.c = omega - omega * math.log(1 + omega / epsilon)

    def pixel_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        delta = (pred - target).abs()
        return torch.where(
            delta < self.omega,
            self.omega * torch.log1p(delta / self.epsilon),
            delta - self.c,
        )
