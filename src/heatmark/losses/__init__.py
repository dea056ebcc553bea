"""Heatmap losses, all called as ``loss(pred, target, points)`` (see ``losses.base``).

- ``MSELoss``, ``L1Loss``: plain per-pixel regression.
- ``WingLoss``: Feng et al. 2018 (w = 10, eps = 2), per pixel.
- ``AdaptiveWingLoss``: Wang et al. 2019 (a = 2.1, w = 14, eps = 1, theta = 0.5), with the weighted
  loss map ``W * M + 1`` (``heatmark.codec.dilated_weight_map``) or its baseline ``W * H + 1``.
- ``JensenShannonLoss``: divergence between softmax heatmaps and normalised targets.
- ``SoftArgmaxLoss``: integral coordinate regression.
- ``WassersteinLoss``: the 2D Sinkhorn loss of the robustness paper (``losses.wasserstein``).
"""

from heatmark.losses.adaptive_wing import AdaptiveWingLoss
from heatmark.losses.distribution import JensenShannonLoss, SoftArgmaxLoss
from heatmark.losses.pixel import L1Loss, MSELoss
from heatmark.losses.wasserstein import WassersteinLoss
from heatmark.losses.wing import WingLoss

__all__ = [
    "AdaptiveWingLoss",
    "JensenShannonLoss",
    "L1Loss",
    "MSELoss",
    "SoftArgmaxLoss",
    "WassersteinLoss",
    "WingLoss",
]
