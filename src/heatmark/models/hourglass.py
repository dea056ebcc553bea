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
- ``output_stride=2``: each stack predicts at S/2 instead of S/4 (64x64 maps from a 128 px
  input): a ``FineHead`` upsamples the stack's features and adds the stem's S/2 features, so the
  finer maps see finer image detail, at a fraction of the cost of a 256 px input.
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


class FineHead(nn.Module):
    """A stack's heatmaps at twice its resolution: its features upsampled (bilinear) plus the
    stem's features at that resolution, one multi-scale block, a 1x1 heatmap head."""

    def __init__(
        self, width: int, fine_channels: int, num_outputs: int, *, coordconv: bool
    ) -> None:
        super().__init__()
        half = width // 2
        self.reduce = ConvNorm(make_conv(width, half, 1, bias=False, coordconv=coordconv), half)
        self.skip = ConvNorm(
            make_conv(fine_channels, half, 1, bias=False, coordconv=coordconv), half
        )
        self.block = MultiScaleResidualBlock(half, half, coordconv=coordconv)
        self.head = make_conv(half, num_outputs, 1, coordconv=coordconv)

    def forward(self, features: Tensor, fine: Tensor) -> Tensor:
        up = F.interpolate(
            self.reduce(features), size=fine.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.head(self.block(up + self.skip(fine)))


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
        fine_channels: int | None = None,
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
        self.head: nn.Module = (
            make_conv(width, num_outputs, 1, coordconv=coordconv_everywhere)
            if fine_channels is None
            else FineHead(width, fine_channels, num_outputs, coordconv=coordconv_everywhere)
        )

    @property
    def head_conv(self) -> nn.Module:
        """The 1x1 convolution that outputs the heatmaps."""
        return self.head.head if isinstance(self.head, FineHead) else self.head

    def forward(
        self, x: Tensor, boundary: Tensor | None = None, fine: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Features (B, width, H, W) and heatmaps (B, num_outputs, H, W) of this stack; with a
        fine head, heatmaps at the resolution of ``fine`` (the stem's S/2 features)."""
        if self.entry is not None:
            x = self.entry(x, boundary)
        features = self.features(self.top(self.hourglass(x)))
        if isinstance(self.head, FineHead):
            if fine is None:
                raise ValueError("a stack with a fine head needs the stem's fine features")
            return features, self.head(features, fine)
        return features, self.head(features)


class StackedHourglass(nn.Module):
    """AWing stacked hourglass; ``forward`` returns one (B, K(+1), S/r, S/r) tensor per stack,
    r = ``output_stride`` (4, or 2 with fine heads)."""

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
        output_stride: int = 4,
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
        if output_stride not in (2, 4):
            raise ValueError(f"output_stride must be 2 or 4, got {output_stride}")
        self.output_stride = output_stride
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
                fine_channels=half if output_stride == 2 else None,
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
            head = stack.head_conv
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
        fine = self.stem_block1(x)
        x = self.stem_block3(self.stem_block2(F.avg_pool2d(fine, 2)))
        fine_features = fine if self.output_stride == 2 else None

        outputs: list[Tensor] = []
        for index, stack in enumerate(self.stacks):
            features, prediction = stack(x, self._previous_boundary(outputs), fine_features)
            outputs.append(prediction)
            if index < self.num_stacks - 1:
                x = (
                    x
                    + self.remap_features[index](features)
                    + self.remap_predictions[index](self._at_stack_scale(prediction))
                )
        return outputs

    def _at_stack_scale(self, maps: Tensor) -> Tensor:
        """Maps at the hourglass's S/4 (fine heads predict at S/2: average 2x2 pixels)."""
        return F.avg_pool2d(maps, 2) if self.output_stride == 2 else maps

    def _previous_boundary(self, outputs: list[Tensor]) -> Tensor | None:
        if not (self.boundary_coords and outputs):
            return None
        return self._at_stack_scale(outputs[-1][:, -1:])
