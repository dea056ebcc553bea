"""An exponential moving average of the weights (``train.ema_decay``): the model validated,
kept as ``best`` and shipped, while the optimiser trains the live weights.

Averaging the last few hundred steps' weights smooths the noise of small-batch CPU training.
Buffers (batch-norm statistics) are averaged like the parameters; integer buffers (the batches
seen) are copied. Early steps use the smaller decay ``(1 + n) / (10 + n)``, so the average is not
dominated by the random initialisation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from heatmark.models.checkpoint import unwrap


class WeightAverage:
    """The moving average of ``model``'s weights; ``update`` after every optimiser step."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"the EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.network = copy.deepcopy(unwrap(model)).eval()
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        live = unwrap(model).state_dict()
        for name, average in self.network.state_dict().items():
            value = live[name].detach()
            if average.dtype.is_floating_point:
                average.lerp_(value.to(average.dtype), 1 - decay)
            else:
                average.copy_(value)

    @torch.no_grad()
    def reset(self, model: nn.Module) -> None:
        """Start the average again from ``model``'s weights."""
        self.network.load_state_dict(unwrap(model).state_dict())
