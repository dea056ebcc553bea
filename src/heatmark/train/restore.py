"""Rebuild a trained model from its checkpoint (weights + sidecar), ready for inference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from heatmark.codec import HeatmapCodec
from heatmark.errors import DataError
from heatmark.schemes import ALL_SCHEMES, Scheme
from heatmark.train.build import build_codec, build_model, heatmap_shape
from heatmark.train.checkpoint import checkpoint_stem, load_weights, meta_path, read_metadata
from heatmark.train.config import Config, config_from_dict


@dataclass
class TrainedModel:
    model: nn.Module
    config: Config
    codec: HeatmapCodec
    scheme: Scheme
    metadata: dict[str, Any]

    @property
    def terms(self) -> str | None:
        """Terms of use inherited from the training data (300-W), if any."""
        return self.metadata.get("terms")


def load_trained(path: str | Path) -> TrainedModel:
    """Load ``path`` (a ``.safetensors``/``.json`` stem or a run directory's ``best``).

    The sidecar must describe the weights: the model it builds must take them (same tensors and
    shapes), and must output ``codec.heatmap_size`` maps at ``data.input_size`` (checked with one
    forward pass), else decoding would silently use the wrong scale. Any mismatch is a
    ``DataError`` naming the file.
    """
    stem = checkpoint_stem(path)
    sidecar = meta_path(stem)
    meta = read_metadata(stem)
    if not isinstance(meta.get("config"), dict):
        raise DataError(sidecar, "the sidecar holds no 'config' (cannot rebuild the model)")
    config = config_from_dict(meta["config"], str(sidecar))
    name = meta.get("scheme")
    scheme = next((s for s in ALL_SCHEMES if s.name == name), None)
    if scheme is None:
        raise DataError(sidecar, f"unknown landmark scheme {name!r}")
    try:
        codec = build_codec(config.codec, config.data.input_size, scheme)
        model = build_model(config.model, scheme.num_points, codec.has_boundary)
    except ValueError as error:
        raise DataError(sidecar, str(error)) from None
    load_weights(stem, model, meta)
    model.eval()
    size = config.data.input_size
    try:
        _, height, width = heatmap_shape(model, size)
    except (RuntimeError, ValueError) as error:
        raise DataError(
            sidecar, f"the model cannot run at data.input_size {size}: {error}"
        ) from None
    expected = codec.heatmap_size
    if (height, width) != (expected, expected):
        raise DataError(
            sidecar,
            f"codec.heatmap_size is {expected} but the weights give {height}x{width} heatmaps "
            f"at data.input_size {size}: the sidecar does not describe these weights",
        )
    return TrainedModel(model, config, codec, scheme, meta)
