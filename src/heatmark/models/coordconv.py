"""CoordConv: convolutions that also see where they are.

Coordinate channels (Liu et al. 2018, used by the AWing paper): x and y normalised to [-1, 1]
over the pixel centres (column 0 is -1, column W-1 is +1) and the radius sqrt(x^2 + y^2)
normalised to [0, 1]. AWing adds "boundary coordinate" channels: x and y kept where the
previous stack's boundary heatmap is >= 0.05 and 0 elsewhere, telling the next stack where the
face outline is.

``CoordConv2d`` is mathematically a convolution over the concatenation
``[input, x, y, r, (bx, by)]``, but it runs the coordinate part as its own small convolution:
x, y, r are the same for every image, so their contribution is computed once on a single
(1, 3, H, W) map and broadcast over the batch, instead of concatenating three channels to every
image and convolving them B times.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

BOUNDARY_THRESHOLD = 0.05
"""Boundary heatmap value from which a pixel counts as "on the boundary" (AWing paper)."""


def _normalised_positions(
    count: int, device: torch.device | str | None, dtype: torch.dtype
) -> Tensor:
    """``count`` pixel-centre positions spread over [-1, 1]; a single pixel sits at 0."""
    if count == 1:
        return torch.zeros(1, device=device, dtype=dtype)
    return torch.linspace(-1.0, 1.0, count, device=device, dtype=dtype)


def coordinate_channels(
    height: int,
    width: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The (1, 3, H, W) map of x, y (in [-1, 1] over pixel centres) and radius (in [0, 1]).

    The radius is sqrt(x^2 + y^2) / sqrt(2), so it is 1 exactly at the corners.
    """
    if height < 1 or width < 1:
        raise ValueError(f"coordinate channels need a non-empty map, got {height}x{width}")
    y = _normalised_positions(height, device, dtype)
    x = _normalised_positions(width, device, dtype)
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    radius = torch.sqrt(xx * xx + yy * yy) / math.sqrt(2.0)
    return torch.stack((xx, yy, radius)).unsqueeze(0)


def append_coordinates(x: Tensor) -> Tensor:
    """``x`` (B, C, H, W) with the x, y and radius channels appended: (B, C + 3, H, W)."""
    batch, _, height, width = x.shape
    coords = coordinate_channels(height, width, device=x.device, dtype=x.dtype)
    return torch.cat((x, coords.expand(batch, -1, -1, -1)), dim=1)


def boundary_coordinate_channels(boundary: Tensor, threshold: float = BOUNDARY_THRESHOLD) -> Tensor:
    """x and y channels masked to where ``boundary`` (B, 1, H, W) is >= ``threshold``: (B, 2, H, W).

    The mask is a hard threshold, so no gradient flows into the boundary prediction through it.
    """
    if boundary.dim() != 4 or boundary.shape[1] != 1:
        raise ValueError(f"boundary map must have shape (B, 1, H, W), got {tuple(boundary.shape)}")
    _, _, height, width = boundary.shape
    xy = coordinate_channels(height, width, device=boundary.device, dtype=boundary.dtype)[:, :2]
    mask = boundary >= threshold
    return torch.where(mask, xy, torch.zeros((), dtype=boundary.dtype, device=boundary.device))


class CoordConv2d(nn.Module):
    """A Conv2d whose input is extended by coordinate (and optionally boundary) channels.

    Equivalent to ``nn.Conv2d(in + 3 (+ 2), out, ...)`` applied to
    ``cat([x, x_coord, y_coord, radius, (boundary_x, boundary_y)])``; the weight of the
    concatenated convolution is ``concatenated_weight()``. ``with_coords=False`` leaves only the
    boundary channels (for a model that uses boundary coordinates without plain CoordConv).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        *,
        with_coords: bool = True,
        with_boundary: bool = False,
    ) -> None:
        super().__init__()
        if not (with_coords or with_boundary):
            raise ValueError("CoordConv2d needs with_coords or with_boundary (else use nn.Conv2d)")
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
        self.coord_conv = (
            nn.Conv2d(3, out_channels, kernel_size, stride, padding, bias=False)
            if with_coords
            else None
        )
        self.boundary_conv = (
            nn.Conv2d(2, out_channels, kernel_size, stride, padding, bias=False)
            if with_boundary
            else None
        )
        self.reset_parameters()

    @property
    def with_boundary(self) -> bool:
        return self.boundary_conv is not None

    def parts(self) -> list[nn.Conv2d]:
        """The input, coordinate and boundary convolutions that exist, in concatenation order."""
        return [c for c in (self.conv, self.coord_conv, self.boundary_conv) if c is not None]

    def reset_parameters(self) -> None:
        """PyTorch's default Conv2d init, with the fan-in of the concatenated convolution."""
        fan_in = sum(c.in_channels for c in self.parts()) * self.conv.weight[0, 0].numel()
        bound = 1.0 / math.sqrt(fan_in)
        for part in self.parts():
            nn.init.uniform_(part.weight, -bound, bound)
        if self.conv.bias is not None:
            nn.init.uniform_(self.conv.bias, -bound, bound)

    def concatenated_weight(self) -> Tensor:
        """The (out, in + 3 (+ 2), k, k) weight of the equivalent plain convolution."""
        return torch.cat([c.weight for c in self.parts()], dim=1)

    @torch.no_grad()
    def fold_affine_(self, scale: Tensor, shift: Tensor) -> None:
        """Make the output ``scale * out + shift`` per channel (used to fold a BatchNorm in)."""
        for part in self.parts():
            part.weight.mul_(scale.view(-1, 1, 1, 1))
        fold_into_bias(self.conv, scale, shift)

    def freeze_coordinates_(self) -> None:
        """Inference only: keep the coordinate channels' contribution, which depends on the
        input size alone, once computed per size. An export then traces it as a constant
        instead of a convolution per call (``heatmark.export.onnx`` does this after a first
        forward pass at the export size)."""
        self._frozen_terms: dict[tuple, Tensor] | None = {}

    def _coordinate_term(self, x: Tensor) -> Tensor:
        assert self.coord_conv is not None
        height, width = int(x.shape[-2]), int(x.shape[-1])
        frozen = getattr(self, "_frozen_terms", None)
        key = (height, width, x.device, x.dtype)
        if frozen is not None and key in frozen:
            return frozen[key]
        coords = coordinate_channels(height, width, device=x.device, dtype=x.dtype)
        term = self.coord_conv(coords)
        if frozen is not None:
            frozen[key] = term.detach()
        return term

    def forward(self, x: Tensor, boundary: Tensor | None = None) -> Tensor:
        out = self.conv(x)
        if self.coord_conv is not None:
            out = out + self._coordinate_term(x)
        if self.boundary_conv is not None:
            if boundary is None:
                raise ValueError("this CoordConv2d has boundary channels: pass the boundary map")
            out = out + self.boundary_conv(boundary_coordinate_channels(boundary.to(x.dtype)))
        return out


@torch.no_grad()
def fold_into_bias(conv: nn.Conv2d, scale: Tensor, shift: Tensor) -> None:
    """Set ``conv``'s bias to ``scale * bias + shift``, creating the bias if it had none."""
    if conv.bias is None:
        conv.bias = nn.Parameter(shift.detach().clone().to(conv.weight.dtype))
    else:
        conv.bias.copy_(conv.bias * scale + shift)


def make_conv(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    bias: bool = True,
    *,
    coordconv: bool = False,
) -> nn.Module:
    """A plain ``nn.Conv2d``, or a ``CoordConv2d`` with x, y, radius channels when ``coordconv``."""
    if coordconv:
        return CoordConv2d(in_channels, out_channels, kernel_size, stride, padding, bias)
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)
