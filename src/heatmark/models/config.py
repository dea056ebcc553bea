"""Network configurations (the ``model`` section of a config and of a checkpoint) and the one
function that builds a network from them.

They live with the models, not with training, so that loading a checkpoint for inference
(``heatmark.models.checkpoint``) never needs the training package. The architecture is a tagged
union: ``architecture`` selects the class, whose fields are that network's parameters; a section
without ``architecture`` is the hourglass (the first architecture, so older configs still load).
Every network maps a (B, 3, S, S) image to a list of (B, K [+1], S/4, S/4) maps.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from torch import nn

from heatmark.models.cpn import CascadedPyramidNetwork
from heatmark.models.hourglass import StackedHourglass
from heatmark.models.hrnet import HRNetW18
from heatmark.models.mobile import MobileHeatmapNet
from heatmark.models.resnet import ResNetDepth
from heatmark.models.simple_baselines import SimpleBaselines


class NetworkSection(BaseModel):
    """A strict, immutable config section (an unknown key is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HourglassConfig(NetworkSection):
    architecture: Literal["hourglass"] = "hourglass"
    stacks: int = Field(4, ge=1, le=8)
    width: int = Field(256, ge=8)
    depth: int = Field(4, ge=1)
    coordconv: bool = True
    boundary_coords: bool = False
    coordconv_everywhere: bool = False
    output_stride: Literal[2, 4] = Field(
        4, description="maps at input/4, or input/2 through fine heads (64x64 maps at 128 px)"
    )

    @property
    def label(self) -> str:
        """A short name for logs."""
        extra = ", CoordConv everywhere" if self.coordconv_everywhere else ""
        extra += ", fine heads" if self.output_stride == 2 else ""
        return f"HG-{self.stacks} (width {self.width}{extra})"


class HRNetConfig(NetworkSection):
    """HRNetV2; the CoordConv options default to off (the published network, older
    checkpoints)."""

    architecture: Literal["hrnet"] = "hrnet"
    width: int = Field(18, ge=4)
    coordconv: bool = Field(False, description="x, y, radius channels into the first conv")
    coordconv_everywhere: bool = Field(False, description="every convolution is a CoordConv")

    @property
    def label(self) -> str:
        if self.coordconv_everywhere:
            return f"HRNetV2-W{self.width} (CoordConv everywhere)"
        return f"HRNetV2-W{self.width}" + (" (CoordConv)" if self.coordconv else "")


class SimpleBaselinesConfig(NetworkSection):
    """SimpleBaselines: ResNet-``depth`` with ``width`` base channels (64 is the standard
    ResNet) and three deconvolutions of ``deconv_channels``."""

    architecture: Literal["simple_baselines"] = "simple_baselines"
    depth: ResNetDepth = 50
    width: int = Field(64, ge=4)
    deconv_channels: int = Field(256, ge=4)

    @property
    def label(self) -> str:
        return f"SimpleBaselines-ResNet{self.depth} (width {self.width})"


class CPNConfig(NetworkSection):
    """Cascaded Pyramid Network: ResNet-``depth`` with ``width`` base channels, a pyramid of
    ``channels`` (even) for GlobalNet and RefineNet."""

    architecture: Literal["cpn"] = "cpn"
    depth: ResNetDepth = 50
    width: int = Field(64, ge=4)
    channels: int = Field(256, ge=4, multiple_of=2)

    @property
    def label(self) -> str:
        return f"CPN-ResNet{self.depth} (width {self.width}, pyramid {self.channels})"


class MobileConfig(NetworkSection):
    """The small separable-convolution encoder-decoder (``heatmark.models.mobile``): the fast
    student's network (issue 21). ``widths`` has one entry more than ``blocks``; the input size
    must be a multiple of 2 ** len(widths)."""

    architecture: Literal["mobile"] = "mobile"
    widths: tuple[int, ...] = Field((16, 32, 64, 96, 128), min_length=3)
    blocks: tuple[int, ...] = Field((1, 2, 2, 2), min_length=2)
    decoder_width: int = Field(64, ge=4)
    coordconv: bool = True

    @model_validator(mode="after")
    def _one_width_per_stage(self) -> MobileConfig:
        if len(self.widths) != len(self.blocks) + 1:
            raise ValueError(
                f"widths needs one entry more than blocks, got {len(self.widths)} widths and "
                f"{len(self.blocks)} blocks"
            )
        if min(self.widths) < 1 or min(self.blocks) < 1:
            raise ValueError("widths and blocks must be >= 1")
        return self

    @property
    def label(self) -> str:
        return f"Mobile (widths {'-'.join(map(str, self.widths))})"


NetworkConfig = HourglassConfig | HRNetConfig | SimpleBaselinesConfig | CPNConfig | MobileConfig
"""Any one architecture's section (``ModelConfig`` is the same union, tagged for validation)."""


def tag_reader(field: str, default: str) -> Discriminator:
    """Discriminator reading ``field`` from a dict or model, ``default`` when it is absent."""

    def read(value: Any) -> str | None:
        if isinstance(value, dict):
            return value.get(field, default)
        return getattr(value, field, None)

    return Discriminator(read)


ModelConfig = Annotated[
    Annotated[HourglassConfig, Tag("hourglass")]
    | Annotated[HRNetConfig, Tag("hrnet")]
    | Annotated[SimpleBaselinesConfig, Tag("simple_baselines")]
    | Annotated[CPNConfig, Tag("cpn")]
    | Annotated[MobileConfig, Tag("mobile")],
    tag_reader("architecture", "hourglass"),
]


def build_network(config: NetworkConfig, num_points: int, boundary: bool) -> nn.Module:
    """The network; its forward returns a list of (B, K [+1], h, w) maps, one per supervised
    output (hourglass stack, CPN level), the last one the prediction."""
    # The hourglass places the boundary channel itself (its boundary coordinates read it); for
    # the others the boundary map, if any, is one more output channel, the last.
    outputs = num_points + int(boundary)
    if isinstance(config, HourglassConfig):
        return StackedHourglass(
            num_points=num_points,
            num_stacks=config.stacks,
            width=config.width,
            depth=config.depth,
            boundary=boundary,
            coordconv=config.coordconv,
            boundary_coords=config.boundary_coords,
            coordconv_everywhere=config.coordconv_everywhere,
            output_stride=config.output_stride,
        )
    if isinstance(config, HRNetConfig):
        return HRNetW18(
            num_points=outputs,
            width=config.width,
            coordconv=config.coordconv,
            coordconv_everywhere=config.coordconv_everywhere,
        )
    if isinstance(config, SimpleBaselinesConfig):
        return SimpleBaselines(
            num_points=outputs,
            depth=config.depth,
            width=config.width,
            deconv_channels=config.deconv_channels,
        )
    if isinstance(config, CPNConfig):
        return CascadedPyramidNetwork(
            num_points=outputs, depth=config.depth, width=config.width, channels=config.channels
        )
    if isinstance(config, MobileConfig):
        return MobileHeatmapNet(
            num_points=outputs,
            widths=config.widths,
            blocks=config.blocks,
            decoder_width=config.decoder_width,
            coordconv=config.coordconv,
        )
    raise TypeError(f"unsupported model config {type(config).__name__}")


@torch.no_grad()
def heatmap_shape(model: nn.Module, input_size: int) -> tuple[int, int, int]:
    """(channels, height, width) of the last output for one ``input_size`` image: what the
    network really produces, to check against a config's ``codec.heatmap_size``. Runs in eval
    mode (batch-norm statistics untouched) on the model's device; may raise ``ValueError`` or
    ``RuntimeError`` for an input the network cannot take."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        output = model(torch.zeros(1, 3, input_size, input_size, device=device))[-1]
    finally:
        model.train(was_training)
    return tuple(output.shape[1:])  # type: ignore[return-value]
