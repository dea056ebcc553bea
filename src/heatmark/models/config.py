"""Network configurations (the ``model`` section of a config and of a checkpoint) and the one
function that builds a network from them.

They live with the models, not with training, so that loading a checkpoint for inference
(``heatmark.models.checkpoint``) never needs the training package. The architecture is a tagged
union: ``architecture`` selects the class, whose fields are that network's parameters.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from torch import nn

from heatmark.models.hourglass import StackedHourglass
from heatmark.models.hrnet import HRNetW18


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


class HRNetConfig(NetworkSection):
    architecture: Literal["hrnet"] = "hrnet"
    width: int = Field(18, ge=4)


def tag_reader(field: str, default: str) -> Discriminator:
    """Discriminator reading ``field`` from a dict or model, ``default`` when it is absent."""

    def read(value: Any) -> str | None:
        if isinstance(value, dict):
            return value.get(field, default)
        return getattr(value, field, None)

    return Discriminator(read)


ModelConfig = Annotated[
    Annotated[HourglassConfig, Tag("hourglass")] | Annotated[HRNetConfig, Tag("hrnet")],
    tag_reader("architecture", "hourglass"),
]


def build_network(
    config: HourglassConfig | HRNetConfig, num_points: int, boundary: bool
) -> nn.Module:
    """The network; its forward returns a list of (B, K [+1], h, w) maps, one per stack."""
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
        )
    # HRNet has a single head: the boundary map, if any, is one more output channel.
    return HRNetW18(num_points=num_points + int(boundary), width=config.width)


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
