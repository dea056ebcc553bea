"""Losses that treat a heatmap as a distribution over its pixels.

- ``JensenShannonLoss``: Jensen-Shannon divergence between softmax(pred) and the target map
  normalised to sum 1, per map, averaged, in bits (so bounded by 1; symmetric; finite when the
  supports differ).
- ``SoftArgmaxLoss``: integral coordinate regression (Sun et al., 2018): the expected position under
  softmax(beta * pred) is compared to the target points with an L1 loss, in heatmap pixels.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from heatmark.losses.base import channel_weights, weighted_mean


def target_distribution(target: Tensor, floor: float = 1e-12) -> Tensor:
    """(B, C, H, W) non-negative target maps -> distributions over each map's H*W pixels."""
    flat = target.flatten(2).clamp_min(0)
    total = flat.sum(-1, keepdim=True)
    if torch.any(total <= 0):
        raise ValueError("a target heatmap is all zero: it cannot be normalised to a distribution")
    return (flat / total).clamp_min(floor)


class JensenShannonLoss(nn.Module):
    """Mean Jensen-Shannon divergence over the maps (weighted by ``mask``, see ``losses.base``;
    a masked map may have an all-zero target)."""

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        points: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        weights = None if mask is None else channel_weights(mask, pred.float())
        target = target.float()
        if weights is not None:  # a left-out map needs no valid target: stand in a uniform one
            target = torch.where(weights[..., None, None] > 0, target, torch.ones_like(target))
        divergence = self.per_map(pred, target)
        if weights is None:
            return divergence.mean()
        return weighted_mean(divergence, weights)

    def per_map(self, pred: Tensor, target: Tensor, points: Tensor | None = None) -> Tensor:
        """(B, C) divergence of every map, in bits."""
        target = target.float()
        log_p = torch.log_softmax(pred.flatten(2).float(), dim=-1)
        q = target_distribution(target)
        p = log_p.exp()
        m = 0.5 * (p + q)
        log_m = m.clamp_min(1e-30).log()
        kl_pm = (p * (log_p - log_m)).sum(-1)
        kl_qm = (q * (q.log() - log_m)).sum(-1)
        return 0.5 * (kl_pm + kl_qm) / math.log(2)


class SoftArgmaxLoss(nn.Module):
    """L1 between soft-argmax coordinates and the target points (landmark channels only)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        if beta <= 0:
            raise ValueError("soft-argmax beta must be positive")
        self.beta = beta

    def forward(
        self,
        pred: Tensor,
        target: Tensor,
        points: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        """Mean L1 over landmarks and axes; ``mask`` (B, K) weighs the landmarks."""
        error = self.per_map(pred, target, points)
        if mask is None:
            return error.mean()
        return weighted_mean(error, channel_weights(mask, error))

    def per_map(self, pred: Tensor, target: Tensor, points: Tensor | None = None) -> Tensor:
        """(B, K) L1 error of every landmark's soft-argmax, averaged over x and y."""
        if points is None:
            raise ValueError("SoftArgmaxLoss needs the target points")
        k = points.shape[1]
        maps = pred[:, :k].float()
        _, _, h, w = maps.shape
        prob = torch.softmax(self.beta * maps.flatten(2), dim=-1).reshape(maps.shape)
        xs = torch.arange(w, dtype=prob.dtype, device=prob.device)
        ys = torch.arange(h, dtype=prob.dtype, device=prob.device)
        x = (prob.sum(-2) * xs).sum(-1)
        y = (prob.sum(-1) * ys).sum(-1)
        coords = torch.stack([x, y], dim=-1)
        return (coords - points.to(coords.dtype)).abs().mean(-1)
