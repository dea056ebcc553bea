"""Rebuild a trained model from its checkpoint (weights + sidecar), ready for inference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from heatmark.codec import HeatmapCodec
from heatmark.errors import DataError
from heatmark.schemes import ALL_SCHEMES, Scheme
from heatmark.train.build import build_codec, build_model
from heatmark.train.checkpoint import checkpoint_stem, load_weights, read_metadata
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
    """Load ``path`` (a ``.safetensors``/``.json`` stem or a run directory's ``best``)."""
    stem = checkpoint_stem(path)
    meta = read_metadata(stem)
    config = config_from_dict(meta.get("config", {}), str(stem.with_suffix(".json")))
    name = meta.get("scheme")
    scheme = next((s for s in ALL_SCHEMES if s.name == name), None)
    if scheme is None:
        raise DataError(stem.with_suffix(".json"), f"unknown landmark scheme {name!r}")
    codec = build_codec(config.codec, config.data.input_size, scheme)
    model = build_model(config.model, scheme.num_points, codec.has_boundary)
    load_weights(stem, model)
    model.eval()
    return TrainedModel(model, config, codec, scheme, meta)
