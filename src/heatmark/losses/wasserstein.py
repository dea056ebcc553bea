"""The 2D Wasserstein loss (Yan et al., "2D Wasserstein loss for robust facial landmark
detection", Pattern Recognition 2021).

Each predicted heatmap becomes a distribution over its pixels by a softmax, each target map is
normalised to sum 1, and the loss is the entropic optimal transport cost between the two with the
Euclidean distance between pixel centres as ground cost, averaged over the B x C maps. Unlike L2 it
keeps growing as the prediction moves away from the target after they stop overlapping, so it
penalises activations far from the landmark. The paper pairs it with sigma = 3 targets and
GET_BC decoding (set on the codec, not here).

Value and gradient (see ``heatmark.losses.sinkhorn`` for the solver):
- ``value="transport"`` (default): <P, C> of the entropic plan, the number POT's ``sinkhorn2``
  returns; ``value="entropic"``: OT_eps = <P, C> + eps KL(P | a (x) b).
- ``debiased=True`` subtracts half the same quantity for (a, a) and (b, b) (with ``entropic`` this
  is the Sinkhorn divergence: zero when prediction equals target).
- The gradient is the envelope gradient (the dual potentials at convergence): exact for
  ``entropic`` / the divergence, and for ``transport`` the gradient of its entropic counterpart.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from heatmark.losses.base import channel_weights
from heatmark.losses.sinkhorn import (
    DistanceUnit,
    GroundCost,
    LossValue,
    SinkhornOptions,
    sinkhorn_value,
)

EmptyTarget = Literal["error", "ignore"]


class WassersteinLoss(nn.Module):
    """Mean entropic OT cost between softmax(pred / temperature) and the normalised target maps.

    cost: ``euclidean`` (paper), ``sqeuclidean`` or ``l1`` between pixel centres.
    epsilon: entropic regularisation in the cost's unit (distance, or squared distance for
        ``sqeuclidean``); with ``unit="map"`` the longer map side is 1, so 0.05 on a 64 x 64 map is
        3.2 pixels for ``euclidean``.
    unit: ``map`` (longer side = 1) or ``pixel`` (pixel size 1).
    temperature: the prediction distribution is softmax(pred / temperature) over each map.
    value / debiased: which quantity the loss reports (module docstring).
    max_iterations, tolerance, epsilon_scaling, coarse_to_fine, kernel_accuracy: solver controls,
        see ``SinkhornOptions``.
    empty_target: an all-zero target map cannot be normalised: ``error`` raises ValueError naming
        the map, ``ignore`` drops such maps from the mean (e.g. landmarks outside the crop); a batch
        with no valid map then gives a zero loss.
    """

    def __init__(
        self,
        cost: GroundCost = "euclidean",
        epsilon: float = 0.05,
        unit: DistanceUnit = "map",
        temperature: float = 1.0,
        value: LossValue = "transport",
        debiased: bool = False,
        max_iterations: int = 100,
        tolerance: float = 1e-2,
        epsilon_scaling: bool = True,
        coarse_to_fine: bool = True,
        kernel_accuracy: float = 3e-3,
        empty_target: EmptyTarget = "error",
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if value not in ("transport", "entropic"):
            raise ValueError(f"value must be 'transport' or 'entropic', got {value!r}")
        if empty_target not in ("error", "ignore"):
            raise ValueError(f"empty_target must be 'error' or 'ignore', got {empty_target!r}")
        self.options = SinkhornOptions(
            cost=cost,
            epsilon=epsilon,
            unit=unit,
            max_iterations=max_iterations,
            tolerance=tolerance,
            epsilon_scaling=epsilon_scaling,
            coarse_to_fine=coarse_to_fine,
            kernel_accuracy=kernel_accuracy,
        )
        self.temperature = temperature
        self.value: LossValue = value
        self.debiased = debiased
        self.empty_target: EmptyTarget = empty_target

    def extra_repr(self) -> str:
        o = self.options
        return (
            f"cost={o.cost!r}, epsilon={o.epsilon}, unit={o.unit!r}, "
            f"temperature={self.temperature}, value={self.value!r}, debiased={self.debiased}"
        )

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        points: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """pred: (B, C, H, W) logits; target: (B, C, H, W) maps >= 0; points unused; mask:
        optional (B, K) landmark weights (``losses.base``): maps of weight 0 are left out
        before anything is solved (their targets may be all zero). -> scalar."""
        weights = None
        if mask is not None:
            weights = channel_weights(mask, pred).detach().reshape(-1)
        values, valid = self._values(pred, target, None if weights is None else weights > 0)
        if values.numel() == 0:
            return pred.sum() * 0.0
        if weights is None:
            return values.mean().to(pred.dtype)
        used = weights[valid].to(values.dtype)
        return ((values * used).sum() / used.sum()).to(pred.dtype)

    def per_map(self, pred: Tensor, target: Tensor, points: Tensor | None = None) -> Tensor:
        """(B, C) loss of every map (``points`` unused); maps left out by
        ``empty_target='ignore'`` are 0."""
        values, valid = self._values(pred, target)
        out = values.new_zeros(valid.shape)
        out[valid] = values
        return out.reshape(pred.shape[:2]).to(pred.dtype)

    def _values(
        self, pred: Tensor, target: Tensor, keep: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Values of the valid maps (M,) and the validity mask (B * C,); ``keep`` (B * C,)
        leaves maps out before the empty-target check."""
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        if pred.dim() != 4:
            raise ValueError(f"expected (B, C, H, W) heatmaps, got shape {tuple(pred.shape)}")
        batch, channels, height, width = pred.shape
        dtype = torch.float64 if pred.dtype == torch.float64 else torch.float32
        logits = pred.reshape(batch * channels, height * width).to(dtype)
        if self.temperature != 1:
            logits = logits / self.temperature
        prediction = torch.softmax(logits, dim=-1)
        mass = target.detach().reshape(batch * channels, height * width).to(dtype)
        if bool((mass < 0).any()):
            raise ValueError("target heatmaps must be >= 0")
        totals = mass.sum(dim=-1)
        empty = totals <= 0
        valid = ~empty
        if keep is not None:  # maps left out by the mask may be empty
            keep = keep.to(valid.device)
            empty, valid = empty & keep, valid & keep
        if self.empty_target == "error" and bool(empty.any()):
            index = int(empty.nonzero()[0, 0])
            raise ValueError(
                f"target map (batch {index // channels}, channel {index % channels}) is all "
                "zero and cannot be normalised to a distribution; pass "
                "empty_target='ignore' to leave such maps out of the loss"
            )
        if not bool(valid.all()):
            prediction, mass, totals = prediction[valid], mass[valid], totals[valid]
        distribution = mass / totals[:, None]
        shape = (-1, height, width)
        values = sinkhorn_value(
            prediction.reshape(shape),
            distribution.reshape(shape),
            self.options,
            value=self.value,
            debiased=self.debiased,
        )
        return values, valid
