"""A trained model with its training config, for what needs both (``--split val`` re-creates
the run's hold-out from the config). Inference alone uses
``heatmark.models.checkpoint.load_landmark_model``, which this builds on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heatmark.codec import HeatmapCodec
from heatmark.errors import DataError
from heatmark.models.checkpoint import (
    checkpoint_stem,
    load_landmark_model,
    meta_path,
    read_metadata,
)
from heatmark.models.landmark_model import LandmarkModel
from heatmark.schemes import Scheme
from heatmark.train.config import Config, config_from_dict


@dataclass
class TrainedModel:
    landmark: LandmarkModel
    config: Config
    metadata: dict[str, Any]

    @property
    def model(self):
        """The bare network (a list of per-stack maps per forward)."""
        return self.landmark.network

    @property
    def codec(self) -> HeatmapCodec:
        return self.landmark.codec

    @property
    def scheme(self) -> Scheme:
        return self.landmark.scheme

    @property
    def terms(self) -> str | None:
        """Terms of use inherited from the training data (300-W), if any."""
        return self.metadata.get("terms")


def load_trained(path: str | Path) -> TrainedModel:
    """Load ``path`` (a ``.safetensors``/``.json`` stem or a run directory's ``best``) with
    its validated training config; every check of ``load_landmark_model`` applies."""
    stem = checkpoint_stem(path)
    sidecar = meta_path(stem)
    meta = read_metadata(stem)
    if not isinstance(meta.get("config"), dict):
        raise DataError(sidecar, "the sidecar holds no 'config' (cannot rebuild the model)")
    config = config_from_dict(meta["config"], str(sidecar))
    return TrainedModel(load_landmark_model(stem), config, meta)
