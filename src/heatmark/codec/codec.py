"""``HeatmapCodec``: encodes landmark targets and decodes predictions, apart from any network.

Coordinates: points live in input-image pixels (0-based pixel centres). A heatmap pixel covers
``stride`` x ``stride`` input pixels, so heatmap coordinate u and input coordinate x relate by
``u = (x + 0.5) / stride - 0.5`` (the exact relation for an area-downsampled image); encoding and
decoding use the same relation, which keeps the round trip unbiased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch
from torch import Tensor

from heatmark.codec.boundary import boundary_heatmap
from heatmark.codec.decode import decode_barycenter, decode_max
from heatmark.codec.gaussian import gaussian_heatmaps
from heatmark.schemes import Boundary


class Decoding(str, Enum):
    """How predicted maps become points."""

    GET_MAX = "max"  # argmax + quarter-pixel shift (AWing)
    GET_BC = "barycenter"  # barycenter of the softmax distribution (2D Wasserstein paper)


@dataclass(frozen=True)
class HeatmapCodec:
    """Targets in, points out.

    Attributes:
        input_size: side of the square network input in pixels.
        heatmap_size: side of the square heatmaps.
        sigma: Gaussian sigma of landmark targets in heatmap pixels (AWing 1, HRNet 1.5,
            Wasserstein 3).
        boundaries: boundary lines for the extra boundary channel; empty for none.
        boundary_sigma: sigma of the boundary channel's distance Gaussian.
    """

    input_size: int = 256
    heatmap_size: int = 64
    sigma: float = 1.0
    boundaries: tuple[Boundary, ...] = ()
    boundary_sigma: float = 1.0

    def __post_init__(self) -> None:
        if self.input_size % self.heatmap_size:
            raise ValueError(
                f"input_size {self.input_size} is not a multiple of heatmap_size "
                f"{self.heatmap_size}"
            )
        if self.sigma <= 0 or self.boundary_sigma <= 0:
            raise ValueError("sigma and boundary_sigma must be positive")

    @property
    def stride(self) -> int:
        return self.input_size // self.heatmap_size

    @property
    def has_boundary(self) -> bool:
        return bool(self.boundaries)

    def num_channels(self, num_points: int) -> int:
        """Channels a model must output: one per landmark, plus the boundary channel."""
        return num_points + int(self.has_boundary)

    def to_heatmap(self, points: Tensor | np.ndarray) -> Tensor:
        """Input-pixel coordinates -> heatmap-pixel coordinates."""
        points = torch.as_tensor(points, dtype=torch.float32)
        return (points + 0.5) / self.stride - 0.5

    def to_input(self, coords: Tensor) -> Tensor:
        """Heatmap-pixel coordinates -> input-pixel coordinates."""
        return (coords + 0.5) * self.stride - 0.5

    def encode(self, points: Tensor | np.ndarray) -> Tensor:
        """(..., K, 2) input-pixel points -> (..., K [+1], h, w) float32 targets.

        Landmark channels are Gaussians of ``sigma``; the boundary channel (last) is present when
        the codec has boundaries.
        """
        coords = self.to_heatmap(points)
        size = self.heatmap_size
        maps = gaussian_heatmaps(coords, size, size, self.sigma)
        if self.has_boundary:
            edge = boundary_heatmap(coords, self.boundaries, size, size, self.boundary_sigma)
            maps = torch.cat([maps, edge.unsqueeze(-3)], dim=-3)
        return maps

    def decode(
        self,
        heatmaps: Tensor,
        num_points: int,
        decoding: Decoding = Decoding.GET_MAX,
        softmax: bool = True,
        temperature: float = 1.0,
    ) -> tuple[Tensor, Tensor]:
        """(B, C, h, w) network output -> (B, K, 2) input-pixel points and (B, K) scores.

        Extra channels after the first ``num_points`` (the boundary) are ignored. GET_BC undoes
        the border pull of the barycenter for Gaussians of the codec's sigma. With
        ``softmax=True`` (logit outputs, e.g. Wasserstein-trained) the barycenter is over the
        whole map, as in the Wasserstein paper; with ``softmax=False`` (regressed heatmaps, whose
        low background would otherwise outweigh the peak) it is over the 3-sigma window around
        the maximum; ``temperature`` is the softmax temperature the loss trained with.
        """
        maps = heatmaps[:, :num_points].detach()
        if decoding is Decoding.GET_MAX:
            coords, scores = decode_max(maps.float())
        else:
            window = None if softmax else max(2, math.ceil(3 * self.sigma))
            coords, scores = decode_barycenter(
                maps,
                softmax=softmax,
                window=window,
                border_sigma=self.sigma,
                temperature=temperature,
            )
        return self.to_input(coords), scores
