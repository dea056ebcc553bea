"""ResNet backbone (He et al., CVPR 2016) in plain PyTorch, for SimpleBaselines and CPN.

torchvision is not a dependency, so the backbone is written here. Stem: 7x7 stride-2 conv + BN +
ReLU and a 3x3 stride-2 max pool take a (B, 3, S, S) image to S/4; four stages of residual blocks
follow at strides 4, 8, 16, 32 (the first block of stages 2-4 has stride 2, in its 3x3 conv as in
torchvision's "ResNet v1.5"). Stage ``i`` has ``width * 2**i`` planes; basic blocks (depths 10, 18,
34) output that many channels, bottlenecks (50, 101) four times as many. ``width=64`` is the
standard network; a smaller width gives a CPU-sized model with the same topology. ``forward``
returns the four stage outputs (C2, C3, C4, C5 in FPN terms): SimpleBaselines uses the last,
CPN all four. Depth 10 (one block per stage) is not one of the paper's depths but a common tiny
variant.

Every conv -> BN pair is a ``ConvNorm``, so ``fuse_for_inference`` folds the whole backbone.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from heatmark.models.conv_norm import ConvNorm

ResNetDepth = Literal[10, 18, 34, 50, 101]
"""The supported depths (number of weighted layers of the classification network)."""

LAYOUTS: dict[int, tuple[bool, tuple[int, int, int, int]]] = {
    10: (False, (1, 1, 1, 1)),
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
}
"""depth -> (bottleneck blocks?, blocks per stage)."""


def conv_norm(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, relu: bool = True
) -> ConvNorm:
    """A bias-free ``kernel_size`` conv with "same" padding, BN and (optionally) ReLU."""
    conv = nn.Conv2d(
        in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2, bias=False
    )
    return ConvNorm(conv, out_channels, relu=relu)


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity, or a strided 1x1 conv + BN when the shape changes (ResNet option B)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return conv_norm(in_channels, out_channels, 1, stride, relu=False)


class ResidualBlock(nn.Module):
    """Basic block: two 3x3 conv + BN layers (the first strided) plus the shortcut, then ReLU."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv_norm(in_channels, planes, 3, stride)
        self.conv2 = conv_norm(planes, planes, 3, relu=False)
        self.shortcut = _shortcut(in_channels, planes, stride)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class BottleneckBlock(nn.Module):
    """Bottleneck: 1x1 -> 3x3 (strided) -> 1x1 to ``4 * planes`` channels, plus the shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = conv_norm(in_channels, planes, 1)
        self.conv2 = conv_norm(planes, planes, 3, stride)
        self.conv3 = conv_norm(planes, out_channels, 1, relu=False)
        self.shortcut = _shortcut(in_channels, out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet feature extractor: (B, 3, S, S) -> [C2 (S/4), C3 (S/8), C4 (S/16), C5 (S/32)].

    ``out_channels`` lists the four maps' channel counts. Input sides must be multiples of 32
    (else the strided stages round and the decoders' upsampled maps would not line up).
    """

    input_multiple = 32

    def __init__(self, depth: int = 50, width: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        if depth not in LAYOUTS:
            raise ValueError(f"ResNet depth must be one of {sorted(LAYOUTS)}, got {depth}")
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        bottleneck, counts = LAYOUTS[depth]
        block: type[ResidualBlock | BottleneckBlock] = (
            BottleneckBlock if bottleneck else ResidualBlock
        )
        self.depth = depth
        self.width = width
        self.stem = conv_norm(in_channels, width, 7, stride=2)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        stages: list[nn.Module] = []
        channels = width
        out_channels: list[int] = []
        for index, count in enumerate(counts):
            planes = width * 2**index
            blocks = []
            for number in range(count):
                stride = 2 if index > 0 and number == 0 else 1
                blocks.append(block(channels, planes, stride))
                channels = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
            out_channels.append(channels)
        self.stages = nn.ModuleList(stages)
        self.out_channels: tuple[int, ...] = tuple(out_channels)
        self._init_weights()

    def _init_weights(self) -> None:
        """He (fan-out) init for convs, unit-scale BNs: torchvision's ResNet initialisation."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def check_input(self, image: Tensor) -> None:
        """Raise ``ValueError`` unless both input sides are multiples of ``input_multiple``."""
        height, width = image.shape[-2:]
        if height % self.input_multiple or width % self.input_multiple:
            raise ValueError(
                f"input size {height}x{width} must be divisible by {self.input_multiple} "
                "(the ResNet backbone's stride)"
            )

    def forward(self, image: Tensor) -> list[Tensor]:
        self.check_input(image)
        x = self.pool(self.stem(image))
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class ResNetLandmarkNet(nn.Module):
    """Base of the ResNet-backed landmark networks (SimpleBaselines, CPN): checks
    ``num_points`` and builds ``self.backbone``; subclasses add their decoder. Outputs are at
    stride 4; input sides must be multiples of 32."""

    output_stride = 4
    input_multiple = 32

    def __init__(self, num_points: int, depth: int, width: int, in_channels: int) -> None:
        super().__init__()
        if num_points < 1:
            raise ValueError(f"num_points must be >= 1, got {num_points}")
        self.num_points = num_points
        self.num_outputs = num_points
        self.backbone = ResNet(depth, width, in_channels)


def init_head(conv: nn.Conv2d | nn.ConvTranspose2d, std: float) -> None:
    """Small normal weights (``std``) and a zero bias: a head that starts near all-zero maps."""
    nn.init.normal_(conv.weight, std=std)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
