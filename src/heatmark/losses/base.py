"""The interface every heatmark loss shares, and per-pixel losses with an optional weight map.

A loss is called as ``loss(pred, target, points)`` with
- ``pred``: (B, C, H, W) raw network output for one stack,
- ``target``: (B, C, H, W) encoded targets (Gaussian landmark maps, boundary channel last),
- ``points``: (B, K, 2) target positions in heatmap pixels (used by coordinate losses),
and returns a scalar. The trainer sums it over the stacks.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

WeightMap = Callable[[Tensor], Tensor]


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

    def forward(self, pred: Tensor, target: Tensor, points: Tensor | None = None) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        loss = self.pixel_loss(pred, target)
        if self.weight_map is not None:
            loss = loss * self.weight_map(target)
        return loss.mean()
