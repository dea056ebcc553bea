"""Adaptive Wing loss (Wang, Bo and Fuxin, ICCV 2019).

For target pixel value y and prediction y_hat, with d = |y - y_hat| and the exponent a - y:

    AWing = w ln(1 + (d / eps)^(a - y))   if d < theta
          = A d - C                        otherwise
    A = w (1 / (1 + (theta / eps)^(a - y))) (a - y) (theta / eps)^(a - y - 1) / eps
    C = theta A - w ln(1 + (theta / eps)^(a - y))

A and C make the loss continuous and smooth at d = theta. Because the exponent a - y is > 2 on
background pixels (y ~ 0) and < 2 near the peak (y ~ 1), the loss behaves like MSE on the
background, which tolerates small errors, and like a Wing/L1 loss on the foreground, which keeps
a large gradient for small errors. Paper values: a = 2.1, w = 14, eps = 1, theta = 0.5.
"""

from __future__ import annotations

import torch
from torch import Tensor

from heatmark.losses.base import PixelLoss, WeightMap


class AdaptiveWingLoss(PixelLoss):
    def __init__(
        self,
        alpha: float = 2.1,
        omega: float = 14.0,
        epsilon: float = 1.0,
        theta: float = 0.5,
        weight_map: WeightMap | None = None,
    ) -> None:
        super().__init__(weight_map)
        if not (omega > 0 and epsilon > 0 and theta > 0 and alpha > 1):
            raise ValueError("Adaptive Wing needs omega, epsilon, theta > 0 and alpha > 1")
        self.alpha, self.omega, self.epsilon, self.theta = alpha, omega, epsilon, theta

    def pixel_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        delta = (target - pred).abs()
        power = self.alpha - target
        ratio = torch.as_tensor(self.theta / self.epsilon, dtype=pred.dtype, device=pred.device)
        a = self.omega / (1 + ratio**power) * power * ratio ** (power - 1) / self.epsilon
        c = self.theta * a - self.omega * torch.log1p(ratio**power)
        # Clamp the base away from 0 in the small branch: d^p has an infinite slope at 0 for p < 1.
        small = self.omega * torch.log1p((delta / self.epsilon).clamp_min(1e-12) ** power)
        return torch.where(delta < self.theta, small, a * delta - c)
