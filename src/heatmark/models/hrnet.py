"""HRNetV2-W18 face alignment network (Wang et al., TPAMI 2020; HRNet-Facial-Landmark-Detection).

Stem: two stride-2 3x3 convs (64 channels) take a (B, 3, S, S) image to S/4, then stage 1 runs
four bottlenecks (256 channels). Stages 2, 3, 4 keep 2, 3, 4 parallel branches at strides
4, 8, 16, 32 with width, 2 width, 4 width, 8 width channels (18/36/72/144 for W18), made of
1, 4, 3 modules; each module runs four BasicBlocks per branch and then fuses every branch into
every other (1x1 conv + bilinear upsampling going up, chains of stride-2 3x3 convs going down).
Head (HRNetV2): all branches upsampled to S/4 and concatenated (15 width = 270 channels), a 1x1
conv + BN + ReLU and a 1x1 conv to one heatmap per point.

CoordConv options (the 2D Wasserstein loss paper's variant, as for the hourglass; both off by
default, which is the published network and keeps older checkpoints loading unchanged):

- ``coordconv``: x, y, radius channels enter the first convolution (the stem's), the network's
  one entry, as the hourglass's ``coordconv`` adds them at its stem.
- ``coordconv_everywhere``: every convolution of the network is a CoordConv.

The hourglass's boundary coordinates have no counterpart: they feed one stack's boundary
prediction to the next stack, and HRNet has a single output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from heatmark.models.conv_norm import ConvNorm
from heatmark.models.coordconv import make_conv

INIT_STD = 1e-3
"""Std of every conv's initial weights (as in the reference code)."""


def _conv_norm(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    relu: bool = True,
    *,
    coordconv: bool = False,
) -> ConvNorm:
    conv = make_conv(
        in_channels,
        out_channels,
        kernel_size,
        stride,
        padding=kernel_size // 2,
        bias=False,
        coordconv=coordconv,
    )
    return ConvNorm(conv, out_channels, relu=relu)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with an identity shortcut (channels unchanged)."""

    def __init__(self, channels: int, *, coordconv: bool = False) -> None:
        super().__init__()
        self.conv1 = _conv_norm(channels, channels, 3, coordconv=coordconv)
        self.conv2 = _conv_norm(channels, channels, 3, relu=False, coordconv=coordconv)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.conv2(self.conv1(x)) + x)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 channels) residual block; 1x1 conv + BN shortcut if channels change."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, *, coordconv: bool = False) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = _conv_norm(in_channels, planes, 1, coordconv=coordconv)
        self.conv2 = _conv_norm(planes, planes, 3, coordconv=coordconv)
        self.conv3 = _conv_norm(planes, out_channels, 1, relu=False, coordconv=coordconv)
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else _conv_norm(in_channels, out_channels, 1, relu=False, coordconv=coordconv)
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


def _fuse_path(
    channels: Sequence[int], source: int, target: int, *, coordconv: bool = False
) -> nn.Module:
    """The layer carrying branch ``source`` to branch ``target``'s resolution and channels."""
    if source == target:
        return nn.Identity()
    if source > target:  # lower resolution: 1x1 conv here, bilinear upsampling in forward
        return _conv_norm(channels[source], channels[target], 1, relu=False, coordconv=coordconv)
    steps = []
    for step in range(target - source):
        last = step == target - source - 1
        out_channels = channels[target] if last else channels[source]
        steps.append(
            _conv_norm(
                channels[source], out_channels, 3, stride=2, relu=not last, coordconv=coordconv
            )
        )
    return nn.Sequential(*steps)


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by an all-to-all multi-resolution fusion."""

    def __init__(
        self, channels: Sequence[int], num_blocks: int = 4, *, coordconv: bool = False
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c, coordconv=coordconv) for _ in range(num_blocks)))
            for c in channels
        )
        count = len(channels)
        self.fuse = nn.ModuleList(
            nn.ModuleList(
                _fuse_path(channels, source, target, coordconv=coordconv) for source in range(count)
            )
            for target in range(count)
        )

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        if len(xs) == 1:
            return xs
        fused = []
        for target, paths in enumerate(self.fuse):
            total = xs[target]
            size = xs[target].shape[-2:]
            for source, path in enumerate(paths):
                if source == target:
                    continue
                y = path(xs[source])
                if source > target:
                    y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
                total = total + y
            fused.append(torch.relu(total))
        return fused


class Transition(nn.Module):
    """Adapts the branches of one stage to the next; a new branch comes from the last one."""

    def __init__(
        self, previous: Sequence[int], current: Sequence[int], *, coordconv: bool = False
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for index, out_channels in enumerate(current):
            if index < len(previous):
                layers.append(
                    nn.Identity()
                    if previous[index] == out_channels
                    else _conv_norm(previous[index], out_channels, 3, coordconv=coordconv)
                )
            else:
                steps = []
                for step in range(index + 1 - len(previous)):
                    last = step == index - len(previous)
                    channels = out_channels if last else previous[-1]
                    steps.append(_conv_norm(previous[-1], channels, 3, 2, coordconv=coordconv))
                layers.append(nn.Sequential(*steps))
        self.layers = nn.ModuleList(layers)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        return [
            layer(xs[index] if index < len(xs) else xs[-1])
            for index, layer in enumerate(self.layers)
        ]


class HRNetW18(nn.Module):
    """HRNetV2 face model: (B, 3, S, S) -> ``[(B, num_points, S/4, S/4)]`` (one-element list).

    ``width`` 18 is HRNetV2-W18 (about 9.6 M parameters for 98 points); a smaller ``width`` gives
    a CPU-sized model with the same topology. Input sides must be multiples of 32.
    ``coordconv`` / ``coordconv_everywhere``: see the module docstring.
    """

    output_stride = 4
    input_multiple = 32

    def __init__(
        self,
        num_points: int,
        width: int = 18,
        stem_channels: int = 64,
        num_modules: Sequence[int] = (1, 4, 3),
        num_blocks: int = 4,
        in_channels: int = 3,
        coordconv: bool = False,
        coordconv_everywhere: bool = False,
    ) -> None:
        super().__init__()
        if num_points < 1:
            raise ValueError(f"num_points must be >= 1, got {num_points}")
        if width < 1 or stem_channels < 1:
            raise ValueError(f"width and stem_channels must be >= 1, got {width}, {stem_channels}")
        if len(num_modules) != 3 or min(num_modules) < 1:
            raise ValueError(f"num_modules must be 3 positive counts, got {tuple(num_modules)}")
        self.num_points = num_points
        self.num_outputs = num_points
        self.width = width
        self.coordconv = coordconv
        self.coordconv_everywhere = coordconv_everywhere
        everywhere = coordconv_everywhere

        self.stem = nn.Sequential(
            _conv_norm(in_channels, stem_channels, 3, stride=2, coordconv=coordconv or everywhere),
            _conv_norm(stem_channels, stem_channels, 3, stride=2, coordconv=everywhere),
        )
        layer1_channels = stem_channels * Bottleneck.expansion
        self.layer1 = nn.Sequential(
            Bottleneck(stem_channels, stem_channels, coordconv=everywhere),
            *(Bottleneck(layer1_channels, stem_channels, coordconv=everywhere) for _ in range(3)),
        )
        previous = [layer1_channels]
        transitions, stages = [], []
        for stage_index, modules in enumerate(num_modules):
            current = [width * 2**branch for branch in range(stage_index + 2)]
            transitions.append(Transition(previous, current, coordconv=everywhere))
            stages.append(
                nn.Sequential(
                    *(
                        HighResolutionModule(current, num_blocks, coordconv=everywhere)
                        for _ in range(modules)
                    )
                )
            )
            previous = current
        self.transitions = nn.ModuleList(transitions)
        self.stages = nn.ModuleList(stages)

        head_channels = sum(previous)
        self.head_features = ConvNorm(
            make_conv(head_channels, head_channels, 1, coordconv=everywhere), head_channels
        )
        self.head = make_conv(head_channels, num_points, 1, coordconv=everywhere)
        self._init_weights()

    def _init_weights(self) -> None:
        """The reference initialisation: every conv N(0, 0.001^2) with zero bias (the input,
        coordinate and boundary parts of a CoordConv alike).

        Every conv but the last feeds a BatchNorm, which undoes the small scale in training;
        in eval mode before any training the activations stay small instead of growing
        through the residual sums, so an untrained model predicts near-zero heatmaps.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=INIT_STD)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, image: Tensor) -> list[Tensor]:
        height, width = image.shape[-2:]
        if height % self.input_multiple or width % self.input_multiple:
            raise ValueError(
                f"input size {height}x{width} must be divisible by {self.input_multiple}"
            )
        xs = [self.layer1(self.stem(image))]
        for transition, stage in zip(self.transitions, self.stages, strict=True):
            xs = stage(transition(xs))
        size = xs[0].shape[-2:]
        upsampled = [xs[0]] + [
            F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in xs[1:]
        ]
        return [self.head(self.head_features(torch.cat(upsampled, dim=1)))]
