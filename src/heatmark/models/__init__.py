"""Heatmap regression networks: the AWing stacked hourglass, HRNetV2-W18, SimpleBaselines and
the Cascaded Pyramid Network (the last two on a plain-PyTorch ResNet).

All map a (B, 3, S, S) image to a list of (B, K, S/4, S/4) heatmap tensors, one per supervised
output (every hourglass stack; CPN's four GlobalNet levels and its RefineNet; HRNet and
SimpleBaselines have one), the last being the prediction, so losses and the trainer treat them
alike.
"""

from heatmark.models.blocks import MultiScaleResidualBlock
from heatmark.models.conv_norm import ConvNorm
from heatmark.models.coordconv import (
    BOUNDARY_THRESHOLD,
    CoordConv2d,
    append_coordinates,
    boundary_coordinate_channels,
    coordinate_channels,
)
from heatmark.models.cpn import CascadedPyramidNetwork
from heatmark.models.fast import accelerate, fuse_for_inference, to_channels_last
from heatmark.models.hourglass import Hourglass, StackedHourglass
from heatmark.models.hrnet import HRNetW18
from heatmark.models.resnet import ResNet
from heatmark.models.simple_baselines import SimpleBaselines
from heatmark.models.summary import (
    ModelSummary,
    count_multiply_adds,
    count_parameters,
    summarize,
)

__all__ = [
    "BOUNDARY_THRESHOLD",
    "CascadedPyramidNetwork",
    "ConvNorm",
    "CoordConv2d",
    "HRNetW18",
    "Hourglass",
    "ModelSummary",
    "MultiScaleResidualBlock",
    "ResNet",
    "SimpleBaselines",
    "StackedHourglass",
    "accelerate",
    "append_coordinates",
    "boundary_coordinate_channels",
    "coordinate_channels",
    "count_multiply_adds",
    "count_parameters",
    "fuse_for_inference",
    "summarize",
    "to_channels_last",
]
