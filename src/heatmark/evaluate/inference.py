"""Run a heatmap model over a cropped dataset and map its points back to the original images."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from heatmark.codec import Decoding, HeatmapCodec
from heatmark.data.dataset import LandmarkDataset


@torch.no_grad()
def predict_dataset(
    model: nn.Module,
    dataset: LandmarkDataset,
    codec: HeatmapCodec,
    num_points: int,
    decoding: Decoding = Decoding.GET_MAX,
    softmax: bool = True,
    batch_size: int = 16,
    temperature: float = 1.0,
    device: torch.device | str = "cpu",
    workers: int = 0,
    channels_last: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) predicted points in original image pixels and (N, K) scores.

    ``num_points`` is the model's landmark count (the dataset may follow another scheme in
    cross-dataset evaluation: it then only provides the crops). The last stack's output is
    decoded (earlier stacks only serve intermediate supervision). ``softmax`` and
    ``temperature``: how GET_BC turns maps into distributions (``Config.softmax_decoding``).
    """
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    points, scores = [], []
    for batch in loader:
        images = batch["image"].to(device).float().div_(255.0)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        heatmaps = model(images)[-1].float()
        coords, score = codec.decode(
            heatmaps, num_points, decoding, softmax=softmax, temperature=temperature
        )
        inverse = torch.linalg.inv(batch["matrix"]).to(torch.float64)
        coords = coords.cpu().to(torch.float64)
        original = coords @ inverse[:, :2, :2].transpose(1, 2) + inverse[:, None, :2, 2]
        points.append(original.numpy())
        scores.append(score.cpu().numpy())
    model.train(was_training)
    return np.concatenate(points), np.concatenate(scores)
