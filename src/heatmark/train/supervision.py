"""How a network's outputs are supervised: per-output targets and weights, and online hard
keypoint mining (OHKM).

A network returns a list of maps (one per hourglass stack, or CPN's four GlobalNet levels and
its RefineNet). By default each gets the run's loss against the run's target, weight 1, and the
losses add up (intermediate supervision). ``train.supervision`` changes that per output:

- ``sigma_scales``: output ``i`` is compared with targets of ``codec.sigma * sigma_scales[i]``
  (CPN's GlobalNet levels use wider Gaussians than its RefineNet);
- ``weights``: output ``i``'s loss is multiplied by ``weights[i]``;
- ``hard_keypoints``: the last output's loss is, per image, the mean of its ``k`` largest
  landmark losses (OHKM, Chen et al. 2018), the extra boundary channel added as one more map.
  Landmarks masked out (invisible LSP joints) are never among the hardest.

With a teacher (``train.distill``), every output's loss is ``(1 - distill_weight)`` times its
loss against the ground truth plus ``distill_weight`` times its loss against the teacher's maps
(the ground-truth boundary channel, if any, kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from heatmark.codec import HeatmapCodec
from heatmark.errors import ConfigError


class Supervision:
    """Turns a network's outputs and the target points into the training loss."""

    def __init__(
        self,
        loss: nn.Module,
        codec: HeatmapCodec,
        sigma_scales: Sequence[float] = (),
        weights: Sequence[float] = (),
        hard_keypoints: int | None = None,
        num_points: int | None = None,
        distill_weight: float = 0.0,
    ) -> None:
        if hard_keypoints is not None and num_points is not None and hard_keypoints > num_points:
            raise ConfigError(
                f"train.supervision.hard_keypoints is {hard_keypoints}, but the scheme has only "
                f"{num_points} landmarks"
            )
        self.loss = loss
        self.codec = codec
        self.sigma_scales = tuple(float(s) for s in sigma_scales)
        self.weights = tuple(float(w) for w in weights)
        self.hard_keypoints = hard_keypoints
        if distill_weight and hard_keypoints is not None:
            raise ConfigError(
                "train.distill and train.supervision.hard_keypoints do not combine: pick one"
            )
        self.distill_weight = float(distill_weight)
        self._codecs: dict[float, HeatmapCodec] = {1.0: codec}

    def codec_for(self, scale: float) -> HeatmapCodec:
        """The run's codec with its landmark sigma times ``scale`` (boundary unchanged)."""
        if scale not in self._codecs:
            self._codecs[scale] = replace(self.codec, sigma=self.codec.sigma * scale)
        return self._codecs[scale]

    def _check(self, outputs: int) -> None:
        for key, values in (("sigma_scales", self.sigma_scales), ("weights", self.weights)):
            if values and len(values) != outputs:
                raise ConfigError(
                    f"train.supervision.{key} has {len(values)} entries, but the model returns "
                    f"{outputs} outputs: give one per output or none"
                )

    def __call__(
        self,
        outputs: Sequence[Tensor],
        points: Tensor,
        mask: Tensor | None,
        teacher: Tensor | None = None,
    ) -> Tensor:
        """``outputs``: the network's maps; ``points``: (B, K, 2) input-pixel targets;
        ``mask``: optional (B, K) landmark weights; ``teacher``: the teacher's (B, K, h, w)
        landmark maps (with ``distill_weight``). -> the scalar training loss."""
        self._check(len(outputs))
        if (teacher is None) != (self.distill_weight == 0):
            raise ValueError("teacher maps are needed exactly when distill_weight is set")
        heatmap_points = self.codec.to_heatmap(points)
        targets: dict[float, Tensor] = {}
        total = outputs[0].new_zeros((), dtype=torch.float32)
        for index, out in enumerate(outputs):
            scale = self.sigma_scales[index] if self.sigma_scales else 1.0
            if scale not in targets:
                targets[scale] = self.codec_for(scale).encode(points)
            weight = self.weights[index] if self.weights else 1.0
            if weight == 0:
                continue
            last = index == len(outputs) - 1
            if last and self.hard_keypoints is not None:
                value = self._hardest(out.float(), targets[scale], heatmap_points, mask)
            else:
                value = self._loss(out, targets[scale], heatmap_points, mask)
            if teacher is not None:
                taught = torch.cat(
                    [teacher.to(out.dtype), targets[scale][:, teacher.shape[1] :]], 1
                )
                taught_loss = self._loss(out, taught, heatmap_points, mask)
                value = (1 - self.distill_weight) * value + self.distill_weight * taught_loss
            total = total + weight * value
        return total

    def _loss(self, out: Tensor, target: Tensor, heatmap_points: Tensor, mask: Tensor | None):
        if mask is None:
            return self.loss(out.float(), target, heatmap_points)
        return self.loss(out.float(), target, heatmap_points, mask=mask)

    def _hardest(
        self, pred: Tensor, target: Tensor, heatmap_points: Tensor, mask: Tensor | None
    ) -> Tensor:
        """Mean over images of the mean of the ``hard_keypoints`` largest landmark losses (and
        the boundary channel's, when there is one)."""
        assert self.hard_keypoints is not None
        k = heatmap_points.shape[1]
        kept = None if mask is None else mask.to(pred.device) > 0
        if kept is not None:  # a left-out map needs no valid target: stand in a uniform one
            fill = torch.ones_like(target[:, :k])
            target = torch.cat(
                [torch.where(kept[..., None, None], target[:, :k], fill), target[:, k:]], 1
            )
        per_map = self.loss.per_map(pred, target, heatmap_points)
        landmarks, extra = per_map[:, :k], per_map[:, k:]
        if kept is not None:  # a masked landmark ranks below every kept one and weighs 0
            ranked = torch.where(kept, landmarks, landmarks.new_full((), float("-inf")))
            index = ranked.topk(self.hard_keypoints, dim=1).indices
            picked = kept.gather(1, index)
            chosen = torch.where(picked, landmarks.gather(1, index), landmarks.new_zeros(()))
            count = picked.sum(1).to(chosen.dtype)
        else:
            chosen = landmarks.topk(self.hard_keypoints, dim=1).values
            count = torch.full_like(chosen[:, 0], self.hard_keypoints)
        per_image = (chosen.sum(1) + extra.sum(1)) / (count + extra.shape[1]).clamp_min(1)
        return per_image.mean()
