"""Config sections -> objects: codec, model, loss, optimiser, learning-rate schedule."""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from heatmark.codec import HeatmapCodec, dilated_weight_map, heatmap_weight_map
from heatmark.losses.adaptive_wing import AdaptiveWingLoss
from heatmark.losses.base import WeightMap
from heatmark.losses.distribution import JensenShannonLoss, SoftArgmaxLoss
from heatmark.losses.pixel import L1Loss, MSELoss
from heatmark.losses.wasserstein import WassersteinLoss
from heatmark.losses.wing import WingLoss
from heatmark.models.config import build_network
from heatmark.schemes import Scheme
from heatmark.train.config import (
    AdaptiveWingConfig,
    CodecConfig,
    Config,
    JensenShannonConfig,
    L1Config,
    LossConfig,
    ModelConfig,
    MSEConfig,
    OptimizerConfig,
    ScheduleConfig,
    SoftArgmaxConfig,
    WassersteinConfig,
    WeightMapConfig,
    WingConfig,
)


def build_codec(config: CodecConfig, input_size: int, scheme: Scheme) -> HeatmapCodec:
    if config.boundary and not scheme.boundaries:
        raise ValueError(f"codec.boundary: the {scheme.name} scheme defines no boundary lines")
    return HeatmapCodec(
        input_size=input_size,
        heatmap_size=config.heatmap_size,
        sigma=config.sigma,
        boundaries=scheme.boundaries if config.boundary else (),
        boundary_sigma=config.boundary_sigma,
    )


def build_model(config: ModelConfig, num_points: int, boundary: bool) -> nn.Module:
    """The network; its forward returns a list of (B, K [+1], h, w) maps, one per stack."""
    return build_network(config, num_points, boundary)


def build_weight_map(config: WeightMapConfig) -> WeightMap | None:
    if config.kind == "dilated":
        return partial(
            dilated_weight_map,
            weight=config.weight,
            threshold=config.threshold,
            kernel=config.kernel,
        )
    if config.kind == "heatmap":
        return partial(heatmap_weight_map, weight=config.weight)
    return None


def build_loss(config: LossConfig) -> nn.Module:
    if isinstance(config, AdaptiveWingConfig):
        return AdaptiveWingLoss(
            config.alpha,
            config.omega,
            config.epsilon,
            config.theta,
            weight_map=build_weight_map(config.weight_map),
        )
    if isinstance(config, MSEConfig):
        return MSELoss(build_weight_map(config.weight_map))
    if isinstance(config, L1Config):
        return L1Loss(build_weight_map(config.weight_map))
    if isinstance(config, WingConfig):
        return WingLoss(config.omega, config.epsilon, build_weight_map(config.weight_map))
    if isinstance(config, JensenShannonConfig):
        return JensenShannonLoss()
    if isinstance(config, SoftArgmaxConfig):
        return SoftArgmaxLoss(config.beta)
    if isinstance(config, WassersteinConfig):
        return WassersteinLoss(
            cost=config.cost,
            epsilon=config.epsilon,
            max_iterations=config.max_iterations,
            tolerance=config.tolerance,
            debiased=config.debiased,
            temperature=config.temperature,
            # A landmark augmented out of the crop has an all-zero target: leave it out.
            empty_target="ignore",
        )
    raise TypeError(f"unsupported loss config {type(config).__name__}")


def build_optimizer(config: OptimizerConfig, parameters) -> torch.optim.Optimizer:
    if config.name == "rmsprop":
        return torch.optim.RMSprop(
            parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.name == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    if config.name == "adamw":
        return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def learning_rate_factor(config: ScheduleConfig, epoch: float) -> float:
    """Multiplier of the base learning rate at (fractional) ``epoch``; a pure function, so a
    resumed run follows the same schedule as an uninterrupted one."""
    if config.warmup_epochs and epoch < config.warmup_epochs:
        return (epoch + 1e-3) / config.warmup_epochs
    if config.kind == "cosine":
        span = max(config.epochs - config.warmup_epochs, 1)
        progress = min(max(epoch - config.warmup_epochs, 0.0) / span, 1.0)
        return 0.5 * (1 + math.cos(math.pi * progress))
    return config.gamma ** sum(epoch >= m for m in config.milestones)


def describe(config: Config) -> str:
    """One line naming the model and loss, for logs."""
    return f"{config.model.label}, {config.loss.name} loss, input {config.data.input_size}"
