"""A trained network that describes itself: crops in, points out, with no argument by hand.

``ModelDescription`` is everything inference needs besides the weights: the landmark scheme,
the crop (input size, enlargement of the landmark box), the codec (heatmap size, sigma,
boundary channel), the decoding (GET_MAX / GET_BC, softmax, temperature) and the input
normalisation. A checkpoint carries it; ``LandmarkModel`` pairs it with the network, so a loaded
model normalises its input and decodes its own output (as mmpose's codecs do), and predict,
evaluate and train never pass decoding arguments around.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from heatmark.codec import Decoding, HeatmapCodec
from heatmark.errors import DataError
from heatmark.schemes import ALL_SCHEMES, Scheme

NORMALISATION = "rgb / 255"
"""The one input normalisation of every heatmark network: RGB uint8 divided by 255."""

SOFTMAX_LOSSES = ("wasserstein", "jsd", "soft-argmax")
"""Losses trained on softmax distributions of the maps: their outputs are logits, which GET_BC
turns into a distribution with the loss's softmax (and temperature)."""


def scheme_named(name: str, source: str = "model description") -> Scheme:
    """The scheme called ``name`` (``300w-68``, ``wflw-98``...)."""
    scheme = next((s for s in ALL_SCHEMES if s.name == name), None)
    if scheme is None:
        known = ", ".join(s.name for s in ALL_SCHEMES)
        raise DataError(source, f"unknown landmark scheme {name!r} (known: {known})")
    return scheme


@dataclass(frozen=True)
class ModelDescription:
    """How to crop for, feed and decode one trained network."""

    scheme: str
    input_size: int
    enlarge: float
    heatmap_size: int
    sigma: float
    boundary: bool = False
    boundary_sigma: float = 1.0
    decoding: Decoding = Decoding.GET_MAX
    softmax: bool = False
    temperature: float = 1.0
    normalisation: str = NORMALISATION

    @property
    def landmark_scheme(self) -> Scheme:
        return scheme_named(self.scheme)

    @property
    def num_points(self) -> int:
        return self.landmark_scheme.num_points

    def codec(self) -> HeatmapCodec:
        scheme = self.landmark_scheme
        return HeatmapCodec(
            input_size=self.input_size,
            heatmap_size=self.heatmap_size,
            sigma=self.sigma,
            boundaries=scheme.boundaries if self.boundary else (),
            boundary_sigma=self.boundary_sigma,
        )

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["decoding"] = self.decoding.value
        return payload

    @classmethod
    def from_dict(cls, payload: object, source: str) -> ModelDescription:
        """Validate a sidecar's ``description``; a bad key is a ``DataError`` naming ``source``."""
        if not isinstance(payload, dict):
            raise DataError(source, '"description" must be a mapping')
        fields = cls.__dataclass_fields__
        unknown = sorted(set(payload) - set(fields))
        if unknown:
            raise DataError(source, f"unknown model description key(s): {', '.join(unknown)}")
        missing = [
            name
            for name in ("scheme", "input_size", "enlarge", "heatmap_size", "sigma")
            if name not in payload
        ]
        if missing:
            raise DataError(source, f"model description lacks {', '.join(missing)}")
        values = dict(payload)
        try:
            values["decoding"] = Decoding(values.get("decoding", Decoding.GET_MAX.value))
            for name in ("input_size", "heatmap_size"):
                values[name] = _positive(values[name], int, name)
            for name in ("enlarge", "sigma", "boundary_sigma", "temperature"):
                if name in values:
                    values[name] = _positive(values[name], float, name)
        except ValueError as error:
            raise DataError(source, f"model description: {error}") from None
        if values.get("normalisation", NORMALISATION) != NORMALISATION:
            raise DataError(source, f"unsupported input normalisation {values['normalisation']!r}")
        description = cls(**values)
        scheme_named(description.scheme, source)
        if description.input_size % description.heatmap_size:
            raise DataError(source, "input_size is not a multiple of heatmap_size")
        return description


def description_from_training_config(
    config: object, scheme: object, source: str
) -> ModelDescription:
    """The description of a network trained with ``config`` (a training config as a dict, as a
    checkpoint sidecar stores it) on ``scheme``. The one place that says how training settings
    become decoding settings: GET_BC uses a softmax for losses in ``SOFTMAX_LOSSES`` (unless
    ``eval.softmax`` says otherwise), with the loss's temperature."""
    if not isinstance(config, dict):
        raise DataError(source, "the sidecar holds no 'config' (cannot describe the model)")

    def section(name: str) -> dict:
        value = config.get(name, {})
        if not isinstance(value, dict):
            raise DataError(source, f"config.{name} must be a mapping")
        return value

    data, codec, loss, evaluation = (section(n) for n in ("data", "codec", "loss", "eval"))
    softmax = evaluation.get("softmax")
    if softmax is None:
        softmax = loss.get("name", "awing") in SOFTMAX_LOSSES
    values = {
        "scheme": scheme,
        "input_size": data.get("input_size"),
        "enlarge": data.get("enlarge"),
        "heatmap_size": codec.get("heatmap_size"),
        "sigma": codec.get("sigma"),
        "boundary": bool(codec.get("boundary", False)),
        "boundary_sigma": codec.get("boundary_sigma", 1.0),
        "decoding": evaluation.get("decoding", Decoding.GET_MAX.value),
        "softmax": bool(softmax),
        "temperature": _loss_temperature(loss),
    }
    missing = [key for key, value in values.items() if value is None]
    if missing:
        raise DataError(source, f"the config lacks {', '.join(missing)}")
    return ModelDescription.from_dict(values, source)


def _loss_temperature(loss: dict) -> float:
    """The softmax temperature the loss trained with: the Wasserstein loss's ``temperature``;
    soft-argmax's softmax(beta * map) is temperature 1 / beta."""
    if loss.get("name") == "soft-argmax":
        beta = loss.get("beta", 1.0)
        return 1.0 / beta if isinstance(beta, int | float) and beta > 0 else beta
    return loss.get("temperature", 1.0)


def _positive(value: object, kind: type, name: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    converted = kind(value)
    if not (np.isfinite(converted) and converted > 0) or (kind is int and converted != value):
        raise ValueError(f"{name} must be a positive {kind.__name__}, got {value!r}")
    return converted


class LandmarkModel(nn.Module):
    """A heatmap network plus its description: uint8 crops -> heatmaps -> points.

    ``heatmaps`` normalises the input, runs the network and keeps the last stack's landmark
    channels (earlier stacks only serve intermediate supervision; the boundary channel is not a
    landmark). ``flip=True`` averages with the mirrored crop's maps (flip test-time
    augmentation, points swapped with the scheme's flip permutation).
    """

    def __init__(self, network: nn.Module, description: ModelDescription) -> None:
        super().__init__()
        self.network = network
        self.description = description
        self.scheme = description.landmark_scheme
        self.codec = description.codec()
        self.flip_order = list(self.scheme.flip_permutation)
        self.terms: str | None = None
        """Terms of use inherited from the training data (300-W), when loaded from one."""

    def heatmaps(self, crops: Tensor, flip: bool = False) -> Tensor:
        """(B, 3, S, S) uint8 (or float in [0, 1]) crops -> (B, K, h, w) float32 maps."""
        images = crops.float() / 255.0 if crops.dtype == torch.uint8 else crops.float()
        k = self.scheme.num_points
        maps = self.network(images)[-1][:, :k].float()
        if flip:
            mirrored = self.network(images.flip(-1))[-1][:, :k].float()
            maps = 0.5 * (maps + mirrored[:, self.flip_order].flip(-1))
        return maps

    def decode(self, maps: Tensor) -> tuple[Tensor, Tensor]:
        """(B, K, h, w) maps -> (B, K, 2) input-pixel points and (B, K) scores."""
        d = self.description
        return self.codec.decode(
            maps, self.scheme.num_points, d.decoding, softmax=d.softmax, temperature=d.temperature
        )

    @torch.no_grad()
    def forward(self, crops: Tensor, flip: bool = False) -> tuple[Tensor, Tensor]:
        """Crops -> (points in input pixels, scores)."""
        return self.decode(self.heatmaps(crops, flip))

    @property
    def num_points(self) -> int:
        return self.scheme.num_points
