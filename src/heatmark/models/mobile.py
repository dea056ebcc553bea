"""A small, fast heatmap network for the CPU: depthwise-separable encoder-decoder (issue 21).

Bulat's hourglass block spends its time in many thin convolutions: on one CPU thread its cost
is dominated by the number of operators, not by arithmetic, so a narrower hourglass is hardly
faster (docs/models.md). This network keeps the operator count low: a strided stem, then
stages of depthwise 3x3 + pointwise 1x1 convolutions (MobileNet's separable convolution) that
halve the resolution down to input/32 for a face-wide receptive field, and a light top-down
path (nearest upsampling, added 1x1-projected skips) back to input/4, where a 1x1 head gives
one map per landmark. With batch norm folded into the convolutions it is a few dozen
operators. It is the network of the shipped ``fast`` model (issue 21, recipe
``cpu_fast_300w``), trained on the ``default`` model's heatmaps plus the ground truth
(``train.distill``).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from torch.nn import functional as F

from heatmark.models.conv_norm import ConvNorm
from heatmark.models.coordconv import make_conv
from heatmark.models.hourglass import HEAD_INIT_STD


def _conv_bn(
    cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True
) -> ConvNorm:
    """Conv + batch norm (+ ReLU). A strided one uses a 4x4 kernel (padding 1): its output pixel
    i then centres on input pixels 2i + 0.5, the pixel grid of a 2x2 pooling, which nearest
    upsampling inverts; a 3x3 stride-2 kernel would shift every level by half a pixel more."""
    if stride == 2:
        kernel = 4
    padding = 1 if stride == 2 else kernel // 2
    conv = nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False)
    return ConvNorm(conv, cout, relu=relu)


class SeparableConv(nn.Module):
    """Depthwise 3x3 (``stride``) with batch norm and ReLU, then a linear pointwise 1x1 with
    batch norm; with the input added back when the shape allows (a residual block: the plain
    stack trains several times slower). The pointwise output has no ReLU (MobileNetV2's
    linear bottleneck): a ReLU there lets a residual branch only ever add, which stalled the
    first student near 9% NME; without it the network learns as fast as the hourglass."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = _conv_bn(cin, cin, 3, stride, groups=cin)
        self.pointwise = _conv_bn(cin, cout, 1, relu=False)
        self.residual = stride == 1 and cin == cout
        if self.residual:  # start as the identity
            nn.init.zeros_(self.pointwise.norm.weight)

    def forward(self, x: Tensor) -> Tensor:
        out = self.pointwise(self.depthwise(x))
        return x + out if self.residual else out


class MobileHeatmapNet(nn.Module):
    """Image (B, 3, S, S) -> ``[maps]``, maps (B, ``num_points``, S/4, S/4).

    ``widths``: channels at input/2 (the stem), /4, /8, ... (one stage each); ``blocks``:
    separable convolutions per stage after the stem (the first of each halves the resolution);
    ``decoder_width``: channels of the top-down path. ``coordconv`` adds the x, y and radius
    channels to the image (``heatmark.models.coordconv``). The input size must be a multiple
    of 2 ** len(widths).
    """

    def __init__(
        self,
        num_points: int,
        widths: Sequence[int] = (16, 32, 64, 96, 128),
        blocks: Sequence[int] = (1, 2, 2, 2),
        decoder_width: int = 64,
        coordconv: bool = True,
    ) -> None:
        super().__init__()
        if len(widths) != len(blocks) + 1:
            raise ValueError(f"widths needs one entry more than blocks: {widths}, {blocks}")
        self.coordconv = coordconv
        # 4x4 stride 2 as in _conv_bn; the x, y, radius channels through a CoordConv2d, whose
        # coordinate part an export freezes into a constant
        stem = make_conv(3, widths[0], 4, stride=2, padding=1, bias=False, coordconv=coordconv)
        self.stem = ConvNorm(stem, widths[0])
        self.stages = nn.ModuleList()
        for cin, cout, count in zip(widths[:-1], widths[1:], blocks, strict=True):
            layers = [SeparableConv(cin, cout, 2)]
            layers += [SeparableConv(cout, cout) for _ in range(count - 1)]
            self.stages.append(nn.Sequential(*layers))
        self.lateral = nn.ModuleList(_conv_bn(w, decoder_width, 1) for w in widths[1:])
        self.smooth = nn.ModuleList(SeparableConv(decoder_width, decoder_width) for _ in widths[2:])
        self.head = nn.Conv2d(decoder_width, num_points, 1)
        nn.init.normal_(self.head.weight, std=HEAD_INIT_STD)  # maps start near 0, as targets
        nn.init.zeros_(self.head.bias)
        self.size_multiple = 2 ** len(widths)

    def upgrade_state(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Weights saved before the stem was a CoordConv2d hold one 6-channel stem weight
        (image, then x, y, radius): the same convolution, split into its two parts here
        (``heatmark.models.checkpoint.load_weights`` calls this)."""
        old = state.get("stem.conv.weight")
        if old is None or not self.coordconv or old.shape[1] != 6:
            return state
        state = dict(state)
        del state["stem.conv.weight"]
        state["stem.conv.conv.weight"] = old[:, :3].contiguous()
        state["stem.conv.coord_conv.weight"] = old[:, 3:].contiguous()
        return state

    def forward(self, image: Tensor) -> list[Tensor]:
        size = image.shape[-1]
        if image.shape[-2] % self.size_multiple or size % self.size_multiple:
            raise ValueError(
                f"input size {image.shape[-2]}x{size} must be divisible by {self.size_multiple}"
            )
        features = [self.stem(image)]
        for stage in self.stages:
            features.append(stage(features[-1]))
        top = self.lateral[-1](features[-1])
        for index in range(len(self.stages) - 2, -1, -1):
            top = F.interpolate(top, scale_factor=2.0, mode="nearest")
            top = self.smooth[index](top + self.lateral[index](features[index + 1]))
        return [self.head(top)]
