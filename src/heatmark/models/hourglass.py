"""Stacked hourglass network as used by the Adaptive Wing loss paper (Wang et al., ICCV 2019).

Stem: 7x7 stride-2 conv, a multi-scale residual block, 2x2 average pooling and two more blocks
take a (B, 3, S, S) image to (B, width, S/4, S/4) features. Each of ``num_stacks`` stacks runs a
recursive hourglass of ``depth`` levels, a block, a 1x1 conv + BN + ReLU and a 1x1 head giving
one heatmap per point (plus a boundary heatmap, the LAST channel, when ``boundary``). Between
stacks, 1x1 convs of the features and of the prediction are added back to the stack input
(intermediate supervision); every stack's prediction is returned and supervised.

Ablation options, each independent:

- ``coordconv``: x, y, radius channels before the first convolution and before each hourglass
  (a 1x1 CoordConv at the hourglass entry, as in the AWing code).
- ``boundary_coords``: for stacks >= 2, x and y channels masked by the previous stack's boundary
  prediction (>= 0.05) enter that 1x1 CoordConv too. Needs ``boundary``.
- ``coordconv_everywhere``: every convolution of the network is a CoordConv (the 2D Wasserstein
  loss paper's variant).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from heatmark.models.blocks import MultiScaleResidualBlock
from heatmark.models.conv_norm import ConvNorm
from heatmark.models.coordconv import CoordConv2d, make_conv

HEAD_INIT_STD = 1e-3
"""Std of the heatmap heads' initial weights: predictions start within ~1e-2 of zero."""


class Hourglass(nn.Module):
    """One recursive hourglass: a skip branch at this scale plus a pooled branch recursing deeper.

    ``depth`` halvings; the input side must be divisible by ``2**depth``.
    """

    def __init__(self, width: int, depth: int, *, coordconv: bool = False) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"hourglass depth must be >= 1, got {depth}")
        self.depth = depth
        self.skip = MultiScaleResidualBlock(width, width, coordconv=coordconv)
        self.down = MultiScaleResidualBlock(width, width, coordconv=coordconv)
        self.inner: nn.Module = (
            Hourglass(width, depth - 1, coordconv=coordconv)
            if depth > 1
            else MultiScaleResidualBlock(width, width, coordconv=coordconv)
        )
        self.up = MultiScaleResidualBlock(width, width, coordconv=coordconv)

    def forward(self, x: Tensor) -> Tensor:
        low = self.up(self.inner(self.down(F.avg_pool2d(x, 2))))
        return self.skip(x) + F.interpolate(low, scale_factor=2.0, mode="nearest")


class HourglassStack(nn.Module):
    """Entry CoordConv (optional) -> hourglass -> block -> 1x1 conv+BN+ReLU -> 1x1 heatmap head."""

    def __init__(
        self,
        width: int,
        depth: int,
        num_outputs: int,
        *,
        coordconv: bool,
        boundary_coords: bool,
        coordconv_everywhere: bool,
    ) -> None:
        super().__init__()
        self.entry = (
            CoordConv2d(width, width, 1, with_coords=coordconv, with_boundary=boundary_coords)
            if coordconv or boundary_coords
            else None
        )
        self.hourglass = Hourglass(width, depth, coordconv=coordconv_everywhere)
        self.top = MultiScaleResidualBlock(width, width, coordconv=coordconv_everywhere)
        self.features = ConvNorm(make_conv(width, width, 1, coordconv=coordconv_everywhere), width)
        self.head = make_conv(width, num_outputs, 1, coordconv=coordconv_everywhere)

    def forward(self, x: Tensor, boundary: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Features (B, width, H, W) and heatmaps (B, num_outputs, H, W) of this stack."""
        if self.entry is not None:
            x = self.entry(x, boundary)
        features = self.features(self.top(self.hourglass(x)))
        return features, self.head(features)


class StackedHourglass(nn.Module):
    """AWing stacked hourglass; ``forward`` returns one (B, K(+1), S/4, S/4) tensor per stack."""

    output_stride = 4

    def __init__(
        self,
        num_points: int,
        num_stacks: int = 4,
        width: int = 256,
        depth: int = 4,
        boundary: bool = False,
        coordconv: bool = False,
        boundary_coords: bool = False,
        coordconv_everywhere: bool = False,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if num_points < 1:
            raise ValueError(f"num_points must be >= 1, got {num_points}")
        if num_stacks < 1:
            raise ValueError(f"num_stacks must be >= 1, got {num_stacks}")
        if width < 4 or width % 4:
            raise ValueError(f"width must be a positive multiple of 4, got {width}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        if boundary_coords and not boundary:
            raise ValueError("boundary_coords=True needs boundary=True (a boundary heatmap output)")
        self.num_points = num_points
        self.num_stacks = num_stacks
        self.width = width
        self.depth = depth
        self.boundary = boundary
        self.coordconv = coordconv
        self.boundary_coords = boundary_coords
        self.coordconv_everywhere = coordconv_everywhere
        self.num_outputs = num_points + int(boundary)

        everywhere = coordconv_everywhere
        quarter, half = width // 4, width // 2
        stem_conv = make_conv(
            in_channels,
            quarter,
            7,
            stride=2,
            padding=3,
            bias=False,
            coordconv=coordconv or everywhere,
        )
        self.stem_conv = ConvNorm(stem_conv, quarter)
        self.stem_block1 = MultiScaleResidualBlock(quarter, half, coordconv=everywhere)
        self.stem_block2 = MultiScaleResidualBlock(half, half, coordconv=everywhere)
        self.stem_block3 = MultiScaleResidualBlock(half, width, coordconv=everywhere)

        self.stacks = nn.ModuleList(
            HourglassStack(
                width,
                depth,
                self.num_outputs,
                coordconv=coordconv,
                boundary_coords=boundary_coords and index > 0,
                coordconv_everywhere=everywhere,
            )
            for index in range(num_stacks)
        )
        self.remap_features = nn.ModuleList(
            make_conv(width, width, 1, coordconv=everywhere) for _ in range(num_stacks - 1)
        )
        self.remap_predictions = nn.ModuleList(
            make_conv(self.num_outputs, width, 1, coordconv=everywhere)
            for _ in range(num_stacks - 1)
        )
        self._init_heads()

    def _init_heads(self) -> None:
        for stack in self.stacks:
            head = stack.head
            parts = head.parts() if isinstance(head, CoordConv2d) else [head]
            for part in parts:
                nn.init.normal_(part.weight, std=HEAD_INIT_STD)
                if part.bias is not None:
                    nn.init.zeros_(part.bias)

    @property
    def input_multiple(self) -> int:
        """Input sides must be multiples of this: 4 (stem) times 2**depth (hourglass)."""
        return 4 * 2**self.depth

    def forward(self, image: Tensor) -> list[Tensor]:
        height, width = image.shape[-2:]
        multiple = self.input_multiple
        if height % multiple or width % multiple:
            raise ValueError(
                f"input size {height}x{width} must be divisible by {multiple} "
                f"(4 * 2**depth with depth={self.depth})"
            )
        x = self.stem_conv(image)
        x = self.stem_block1(x)
        x = F.avg_pool2d(x, 2)
        x = self.stem_block3(self.stem_block2(x))

        outputs: list[Tensor] = []
        for index, stack in enumerate(self.stacks):
            boundary = outputs[-1][:, -1:] if self.boundary_coords and index > 0 else None
            features, prediction = stack(x, boundary)
            outputs.append(prediction)
            if index < self.num_stacks - 1:
                x = (
                    x
                    + self.remap_features[index](features)
                    + self.remap_predictions[index](prediction)
                )
        return outputs
