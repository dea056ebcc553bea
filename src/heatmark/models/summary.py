"""Model size and cost: parameter count and multiply-adds of one forward pass.

Multiply-adds (MACs) are counted by ``torch.utils.flop_counter.FlopCounterMode`` over the
convolutions and matrix products actually run (it reports 2 FLOPs per multiply-add; we halve
it). Element-wise work (BatchNorm, ReLU, pooling, upsampling) is not counted, following the
usual convention of the papers ("GFLOPs" there are multiply-adds of conv and linear layers).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (BatchNorm running statistics are buffers and not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_multiply_adds(model: nn.Module, input_size: int = 256, in_channels: int = 3) -> int:
    """Multiply-adds of conv/linear layers for one (1, in_channels, S, S) image, in eval mode."""
    if input_size < 1:
        raise ValueError(f"input_size must be >= 1, got {input_size}")
    parameter = next(model.parameters())
    image = torch.zeros(
        1, in_channels, input_size, input_size, device=parameter.device, dtype=parameter.dtype
    )
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(image)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


@dataclass(frozen=True)
class ModelSummary:
    """Size and per-image cost of a model at one input size."""

    name: str
    parameters: int
    multiply_adds: int
    input_size: int

    def describe(self) -> str:
        return (
            f"{self.name}: {self.parameters / 1e6:.2f} M parameters, "
            f"{self.multiply_adds / 1e9:.2f} G multiply-adds at {self.input_size}x{self.input_size}"
        )


def summarize(model: nn.Module, input_size: int = 256, name: str | None = None) -> ModelSummary:
    """Parameter count and multiply-adds of ``model`` for one ``input_size`` square image."""
    return ModelSummary(
        name=name or type(model).__name__,
        parameters=count_parameters(model),
        multiply_adds=count_multiply_adds(model, input_size),
        input_size=input_size,
    )
