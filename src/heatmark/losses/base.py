"""The interface every heatmark loss shares, and per-pixel losses with an optional weight map.

A loss is called as ``loss(pred, target, points, mask=None)`` with
- ``pred``: (B, C, H, W) raw network output for one stack,
- ``target``: (B, C, H, W) encoded targets (Gaussian landmark maps, boundary channel last),
- ``points``: (B, K, 2) target positions in heatmap pixels (used by coordinate losses),
- ``mask``: optional (B, K) per-landmark weights, 0 for a landmark left out of the loss (an
  invisible LSP joint, whose coordinates may be a placeholder); channels past K (the boundary
  channel) weigh 1. The loss is then the weighted mean over the maps, so a masked landmark's
  channel gets exactly zero gradient and an all-ones mask gives the unmasked value,
and returns a scalar. The trainer sums it over the stacks.

``loss.per_map(pred, target, points)`` gives the unreduced (B, C') loss of every map (C' = C, or
K for coordinate losses, which have no boundary channel): online hard keypoint mining
(``heatmark.train.supervision``) selects among them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

WeightMap = Callable[[Tensor], Tensor]


def channel_weights(mask: Tensor, pred: Tensor) -> Tensor:
    """(B, K) landmark weights -> (B, C) channel weights of ``pred`` (extra channels weigh 1)."""
    batch, channels = pred.shape[:2]
    mask = mask.to(device=pred.device, dtype=pred.dtype)
    if mask.dim() != 2 or mask.shape[0] != batch or mask.shape[1] > channels:
        raise ValueError(
            f"loss mask of shape {tuple(mask.shape)} does not fit (B, K <= C) for prediction "
            f"{tuple(pred.shape)}"
        )
    if bool((mask < 0).any()):
        raise ValueError("loss mask weights must be >= 0")
    extra = mask.new_ones(batch, channels - mask.shape[1])
    return torch.cat([mask, extra], dim=1)


def weighted_mean(values: Tensor, weights: Tensor) -> Tensor:
    """Mean of (B, C, ...) ``values`` weighted per (B, C) map; 0 when every weight is 0.

    Masked values are selected away, not multiplied by zero, so a NaN or infinity there cannot
    leak into the result or the gradient."""
    per_map = values.flatten(2).mean(-1) if values.dim() > 2 else values
    per_map = torch.where(weights > 0, per_map, per_map.new_zeros(()))
    return (per_map * weights).sum() / weights.sum().clamp_min(1e-12)


class PixelLoss(nn.Module):
    """Mean over pixels of a per-pixel loss, optionally multiplied by a loss weight map.

    ``weight_map`` is a function of the target, e.g. ``heatmark.codec.dilated_weight_map``
    (the AWing weighted loss map ``W * M + 1``) or ``heatmap_weight_map`` (``W * H + 1``).
    """

    def __init__(self, weight_map: WeightMap | None = None) -> None:
        super().__init__()
        self.weight_map = weight_map

    def pixel_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        points: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        loss = self._weighted(pred, target)
        if mask is None:
            return loss.mean()
        return weighted_mean(loss, channel_weights(mask, pred))

    def per_map(self, pred: Tensor, target: Tensor, points: Tensor | None = None) -> Tensor:
        """(B, C) mean loss of every map."""
        return self._weighted(pred, target).flatten(2).mean(-1)

    def _weighted(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        loss = self.pixel_loss(pred, target)
        if self.weight_map is not None:
            loss = loss * self.weight_map(target)
        return loss
