"""Faster execution of the same networks: BN folding, channels_last memory format, compilation.

None of these change what a model computes (up to float rounding):

- ``fuse_for_inference``: an eval-mode copy with every conv -> BatchNorm pair (``ConvNorm``)
  folded into one convolution. Large gain for HRNet (every conv has a BN); small for the
  hourglass, whose pre-activation blocks put a ReLU between each BN and the next conv.
- ``to_channels_last``: NHWC weights and activations, the layout oneDNN (CPU) and cuDNN tensor
  cores convolve fastest; inputs must be converted too (``image.to(memory_format=...)``).
- ``accelerate``: both of the above where they apply, plus ``torch.compile`` on request, which
  fuses the element-wise BatchNorm/ReLU/add chains into the surrounding kernels.

Measured on a 2-core AVX2 CPU (benchmarks/bench_models.py): training the hourglass is bound by
oneDNN convolutions (about 85% of a step), which run fastest from NCHW there (blocked nChw8c
kernels), so channels_last and compile give it nothing; HRNet-W18, with its many thin
convolutions, trains 1.2x faster in channels_last. For CPU inference, fused + channels_last is
1.15x (hourglass) to 1.45x (HRNet) faster than eager NCHW.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from heatmark.models.conv_norm import ConvNorm


def fuse_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every ``ConvNorm``'s BatchNorm folded into its conv.

    The copy is for inference only: its BatchNorm statistics are frozen into the weights.
    """
    fused = copy.deepcopy(model).eval()
    for module in fused.modules():
        if isinstance(module, ConvNorm):
            module.fuse_()
    return fused


def to_channels_last(model: nn.Module) -> nn.Module:
    """Convert ``model``'s 4-D parameters and buffers to channels_last, in place; returns it."""
    return model.to(memory_format=torch.channels_last)


def accelerate(
    model: nn.Module,
    *,
    inference: bool,
    channels_last: bool = True,
    compile: bool = False,
) -> nn.Module:
    """``model`` prepared for fast training (``inference=False``) or inference.

    Inference works on a fused copy; training converts ``model`` itself (so an optimizer built
    on its parameters stays valid). ``compile`` wraps the result in ``torch.compile``; the
    first calls are then slow while it compiles.
    """
    prepared = fuse_for_inference(model) if inference else model
    if channels_last:
        to_channels_last(prepared)
    if compile:
        return torch.compile(prepared)  # type: ignore[return-value]
    return prepared
