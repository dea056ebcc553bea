"""Bulat's hierarchical, parallel and multi-scale residual block (Bulat & Tzimiropoulos 2017).

Three pre-activation (BatchNorm -> ReLU -> 3x3 conv) steps in a chain, C -> C/2 -> C/4 -> C/4.
The three outputs are concatenated back to C channels, so one block mixes receptive fields of
3x3, 5x5 and 7x7 at the parameter cost of a single wide 3x3 layer. The shortcut is the identity,
or BatchNorm -> ReLU -> 1x1 conv when the channel count changes. This is the block of FAN and
of the AWing stacked hourglass.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from heatmark.models.coordconv import make_conv


class MultiScaleResidualBlock(nn.Module):
    """Hierarchical multi-scale residual block mapping ``in_channels`` to ``out_channels``.

    ``coordconv`` turns every convolution of the block into a CoordConv (x, y, radius channels),
    the Wasserstein paper's "CoordConv everywhere" variant.
    """

    def __init__(self, in_channels: int, out_channels: int, *, coordconv: bool = False) -> None:
        super().__init__()
        if out_channels % 4:
            raise ValueError(f"out_channels must be divisible by 4, got {out_channels}")
        half, quarter = out_channels // 2, out_channels // 4
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = make_conv(in_channels, half, 3, padding=1, bias=False, coordconv=coordconv)
        self.norm2 = nn.BatchNorm2d(half)
        self.conv2 = make_conv(half, quarter, 3, padding=1, bias=False, coordconv=coordconv)
        self.norm3 = nn.BatchNorm2d(quarter)
        self.conv3 = make_conv(quarter, quarter, 3, padding=1, bias=False, coordconv=coordconv)
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Sequential(
                nn.BatchNorm2d(in_channels),
                nn.ReLU(inplace=True),
                make_conv(in_channels, out_channels, 1, bias=False, coordconv=coordconv),
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        # In-place ReLU is safe here: BatchNorm's backward needs its input, not its output.
        out1 = self.conv1(F.relu(self.norm1(x), inplace=True))
        out2 = self.conv2(F.relu(self.norm2(out1), inplace=True))
        out3 = self.conv3(F.relu(self.norm3(out2), inplace=True))
        return torch.cat((out1, out2, out3), dim=1) + self.shortcut(x)
