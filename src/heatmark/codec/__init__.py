"""Heatmap codec: landmark targets (Gaussian and boundary maps, loss weight maps) and decoding."""

from heatmark.codec.codec import Decoding, HeatmapCodec
from heatmark.codec.decode import decode_barycenter, decode_max
from heatmark.codec.weights import dilated_weight_map, heatmap_weight_map

__all__ = [
    "Decoding",
    "HeatmapCodec",
    "decode_barycenter",
    "decode_max",
    "dilated_weight_map",
    "heatmap_weight_map",
]
