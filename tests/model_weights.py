"""Weights that make a test model's outputs worth comparing (model and export tests).

Fresh heads predict near-flat maps (init std 1e-3), where an argmax is decided by rounding noise
and two near-zero outputs agree within any tolerance; these weights give maps of order one with
clear peaks and BatchNorm statistics that really matter.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def randomise_weights(
    model: nn.Module,
    generator: torch.Generator,
    convs: tuple[type[nn.Module], ...] = (nn.Conv2d,),
    fresh_statistics: bool = False,
) -> None:
    """Unit-scale (fan-in normalised) weights for the ``convs`` layers and random BatchNorm
    affines, drawn from ``generator`` module by module; ``fresh_statistics`` also resets the
    BatchNorms' running statistics to a cumulative average (``momentum=None``)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, convs):
                fan_in = module.weight[0].numel()
                module.weight.copy_(
                    torch.randn(module.weight.shape, generator=generator) / math.sqrt(fan_in)
                )
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=generator) * 0.5 + 0.75)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                if fresh_statistics:
                    module.reset_running_stats()
                    module.momentum = None


def make_non_trivial(
    model: nn.Module, seed: int = 0, *, size: int, convs: tuple[type[nn.Module], ...] = (nn.Conv2d,)
) -> nn.Module:
    """``randomise_weights``, then BatchNorm statistics from two train-mode passes of random
    ``size`` x ``size`` images; returns the model in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    randomise_weights(model, generator, convs)
    with torch.no_grad():
        model.train()
        for _ in range(2):
            model(torch.rand((4, 3, size, size), generator=generator))
    return model.eval()
