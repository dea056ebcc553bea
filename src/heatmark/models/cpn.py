"""Cascaded Pyramid Network (Chen et al., "Cascaded Pyramid Network for Multi-Person Pose
Estimation", CVPR 2018).

A ResNet gives C2..C5 (strides 4, 8, 16, 32). **GlobalNet** is a feature pyramid: a 1x1 conv +
BN + ReLU makes each level ``channels`` wide, and going from coarse to fine each level adds the
coarser one, passed through a 1x1 conv + BN and bilinearly upsampled (the conv runs before the
upsampling: the two commute, and the conv is 4x cheaper at the coarse size). Each pyramid level
has its own head (1x1 conv + BN + ReLU, 3x3 conv to the heatmaps), upsampled bilinearly to the
output size, stride 4. **RefineNet** sends pyramid level ``i`` (0 the coarsest) through ``3 - i``
bottlenecks, upsamples all four to stride 4, concatenates them and predicts the final maps with
one more bottleneck and a 3x3 conv.

``forward`` returns five (B, K, S/4, S/4) maps, GlobalNet's four (coarsest level first) and
RefineNet's last: the trainer supervises every element of the list (intermediate supervision, as
the paper supervises both nets) and inference decodes the last, RefineNet's. CPN's own training
(wider targets per GlobalNet level, online hard keypoint mining for RefineNet) is
``train.supervision`` (``heatmark.train.supervision``; the cpn_300w recipe sets it). Differences
from the paper: the heads end in a plain conv instead of conv + BN, and the backbone starts from
scratch, not from ImageNet weights.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from heatmark.models.resnet import ResNetLandmarkNet, conv_norm, init_head

HEAD_INIT_STD = 1e-3
"""Std of the heatmap heads' initial weights: predictions start within ~1e-2 of zero."""

LEVELS = 4
"""Pyramid levels: C2..C5."""


def _upsample(x: Tensor, size: torch.Size | tuple[int, int]) -> Tensor:
    """Bilinear resize to ``size`` (a no-op when already there)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class RefineBottleneck(nn.Module):
    """CPN's bottleneck: 1x1 -> 3x3 -> 1x1 with ``out_channels / 2`` inner channels, plus a
    shortcut (identity, or 1x1 conv + BN when the channel count changes)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        inner = out_channels // 2
        self.conv1 = conv_norm(in_channels, inner, 1)
        self.conv2 = conv_norm(inner, inner, 3)
        self.conv3 = conv_norm(inner, out_channels, 1, relu=False)
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else conv_norm(in_channels, out_channels, 1, relu=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


class GlobalNet(nn.Module):
    """Feature pyramid over C2..C5 with one heatmap head per level.

    ``forward`` takes the backbone's [C2, C3, C4, C5] and returns the pyramid features and the
    per-level heatmaps, both coarsest first; the heatmaps are already at C2's resolution.
    """

    def __init__(self, in_channels: tuple[int, ...], channels: int, num_outputs: int) -> None:
        super().__init__()
        coarse_first = list(reversed(in_channels))
        self.laterals = nn.ModuleList(conv_norm(c, channels, 1) for c in coarse_first)
        self.top_down = nn.ModuleList(
            conv_norm(channels, channels, 1, relu=False) for _ in range(len(in_channels) - 1)
        )
        self.head_features = nn.ModuleList(
            conv_norm(channels, channels, 1) for _ in range(len(in_channels))
        )
        self.heads = nn.ModuleList(
            nn.Conv2d(channels, num_outputs, 3, padding=1) for _ in range(len(in_channels))
        )

    def forward(self, features: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        coarse_first = features[::-1]
        size = features[0].shape[-2:]
        pyramid: list[Tensor] = []
        maps: list[Tensor] = []
        for index, (lateral, x) in enumerate(zip(self.laterals, coarse_first, strict=True)):
            level = lateral(x)
            if index > 0:
                level = level + _upsample(self.top_down[index - 1](pyramid[-1]), x.shape[-2:])
            pyramid.append(level)
            head = self.heads[index](self.head_features[index](level))
            maps.append(_upsample(head, size))
        return pyramid, maps


class RefineNet(nn.Module):
    """Per-level bottleneck stacks (``levels - 1 - i`` for level ``i``, coarsest first),
    upsampling to the finest level, concatenation, a bottleneck and a 3x3 heatmap conv."""

    def __init__(self, channels: int, num_outputs: int, levels: int = LEVELS) -> None:
        super().__init__()
        self.cascades = nn.ModuleList(
            nn.Sequential(*(RefineBottleneck(channels, channels) for _ in range(levels - 1 - i)))
            for i in range(levels)
        )
        self.merge = RefineBottleneck(levels * channels, channels)
        self.head = nn.Conv2d(channels, num_outputs, 3, padding=1)

    def forward(self, pyramid: list[Tensor]) -> Tensor:
        size = pyramid[-1].shape[-2:]
        refined = [
            _upsample(cascade(level), size)
            for cascade, level in zip(self.cascades, pyramid, strict=True)
        ]
        return self.head(self.merge(torch.cat(refined, dim=1)))


class CascadedPyramidNetwork(ResNetLandmarkNet):
    """CPN: (B, 3, S, S) -> five (B, K, S/4, S/4) maps (GlobalNet's four, then RefineNet's).

    ``num_points`` counts every output channel (a boundary map is one more); ``channels`` is the
    pyramid width (256 in the paper), even. Input sides must be multiples of 32.
    """

    def __init__(
        self,
        num_points: int,
        depth: int = 50,
        width: int = 64,
        channels: int = 256,
        in_channels: int = 3,
    ) -> None:
        super().__init__(num_points, depth, width, in_channels)
        if channels < 2 or channels % 2:
            raise ValueError(f"channels must be a positive even number, got {channels}")
        self.global_net = GlobalNet(self.backbone.out_channels, channels, num_points)
        self.refine_net = RefineNet(channels, num_points)
        self._init_weights()

    def _init_weights(self) -> None:
        """He init for the pyramid's convs (the backbone inits itself), small heads."""
        heads = {id(h) for h in (*self.global_net.heads, self.refine_net.head)}
        for module in (*self.global_net.modules(), *self.refine_net.modules()):
            if not isinstance(module, nn.Conv2d):
                continue
            if id(module) in heads:
                init_head(module, HEAD_INIT_STD)
            else:
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, image: Tensor) -> list[Tensor]:
        pyramid, global_maps = self.global_net(self.backbone(image))
        return [*global_maps, self.refine_net(pyramid)]
