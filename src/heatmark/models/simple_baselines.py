"""SimpleBaselines (Xiao, Wu & Wei, "Simple Baselines for Human Pose Estimation and Tracking",
ECCV 2018): a ResNet and three deconvolutions, nothing else.

The ResNet's last stage (stride 32) goes through three 4x4 stride-2 transposed convolutions, each
followed by BN and ReLU (``deconv_channels`` channels, 256 in the paper), back to stride 4, and a
1x1 conv gives one heatmap per output: a (B, 3, S, S) image gives ``[(B, K, S/4, S/4)]``, the same
one-element list as HRNet, so input 256 gives 64x64 maps and input 128 gives 32x32. The paper
starts from ImageNet weights; heatmark trains from scratch (no pretrained weights are shipped).
"""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from heatmark.models.resnet import ResNetLandmarkNet, init_head

HEAD_INIT_STD = 1e-3
"""Std of the deconvolutions' and the head's initial weights (as in the reference code)."""

DECONV_LAYERS = 3
"""Stride 32 -> 4: three doublings."""


def deconv_norm(in_channels: int, out_channels: int) -> nn.Sequential:
    """4x4 stride-2 transposed conv (exact doubling: padding 1) + BN + ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SimpleBaselines(ResNetLandmarkNet):
    """ResNet-``depth`` + three deconvolutions + 1x1 head: (B, 3, S, S) -> ``[(B, K, S/4, S/4)]``.

    ``num_points`` counts every output channel (a boundary map, when trained with one, is one
    more). Input sides must be multiples of 32.
    """

    def __init__(
        self,
        num_points: int,
        depth: int = 50,
        width: int = 64,
        deconv_channels: int = 256,
        in_channels: int = 3,
    ) -> None:
        super().__init__(num_points, depth, width, in_channels)
        if deconv_channels < 1:
            raise ValueError(f"deconv_channels must be >= 1, got {deconv_channels}")
        channels = [self.backbone.out_channels[-1]] + [deconv_channels] * DECONV_LAYERS
        self.deconvs = nn.Sequential(*(deconv_norm(a, b) for a, b in pairwise(channels)))
        self.head = nn.Conv2d(deconv_channels, num_points, 1)
        self._init_decoder()

    def _init_decoder(self) -> None:
        for module in (*self.deconvs.modules(), self.head):
            if isinstance(module, nn.ConvTranspose2d | nn.Conv2d):
                init_head(module, HEAD_INIT_STD)

    def forward(self, image: Tensor) -> list[Tensor]:
        return [self.head(self.deconvs(self.backbone(image)[-1]))]
