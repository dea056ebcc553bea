"""Knowledge distillation: a trained teacher's heatmaps as a second target (``train.distill``).

A small, fast student (the ``cpu_fast_300w`` recipe) can learn from the ground truth and from
the heatmaps of a more precise heatmark model on the same augmented crops: the teacher's maps
carry what the single annotated point does not (its uncertainty along a contour, the shape of
the face around an occluded point). Each output's loss is ``(1 - weight) * loss(ground truth)
+ weight * loss(teacher)``.

The teacher sees the student's crop, resized to its own input size, and its maps are resized
to the student's map size. Both resizes keep the crop's geometry because every heatmark model
places map pixel centres at the same fractions of the crop (``HeatmapCodec``: input pixel
x <-> map pixel (x + 0.5) / stride - 0.5), which is bilinear interpolation without corner
alignment. The two models must crop alike (same scheme, same ``enlarge``).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from heatmark.errors import ConfigError
from heatmark.models.landmark_model import LandmarkModel, ModelDescription


class Teacher:
    """A frozen ``LandmarkModel`` giving (B, K, h, w) target maps for the student's crops."""

    def __init__(
        self, model: LandmarkModel, student: ModelDescription, device: torch.device
    ) -> None:
        taught = model.description
        if taught.scheme != student.scheme:
            raise ConfigError(
                f"train.distill.teacher predicts the {taught.scheme} scheme, the student "
                f"{student.scheme}: they must match"
            )
        if abs(taught.enlarge - student.enlarge) > 1e-6:
            raise ConfigError(
                f"train.distill.teacher crops with enlarge {taught.enlarge}, the student with "
                f"data.enlarge {student.enlarge}: they must match (same crops)"
            )
        self.model = model.to(device).eval().requires_grad_(False)
        self.input_size = taught.input_size
        self.map_size = student.heatmap_size

    @torch.no_grad()
    def maps(self, images: Tensor) -> Tensor:
        """Student crops (B, 3, S, S), floats in 0..1 -> the teacher's landmark maps at the
        student's map size."""
        images = _resized(images.float(), self.input_size)
        return _resized(self.model.heatmaps(images), self.map_size)


def _resized(maps: Tensor, size: int) -> Tensor:
    """Bilinear resize of square maps without corner alignment. Not antialiased: the maps are
    smooth, and an antialiasing kernel would widen the teacher's peaks (it moves their GET_BC
    points by 0.1 px against 0.014 px without, ``tests/train/test_distill.py``)."""
    if maps.shape[-1] == size and maps.shape[-2] == size:
        return maps
    return F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)
