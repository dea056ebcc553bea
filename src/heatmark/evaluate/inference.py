"""Run a landmark model over a cropped dataset and map its points back to the original images."""

from __future__ import annotations

import numpy as np
import torch

from heatmark.data.dataset import LandmarkDataset
from heatmark.models.landmark_model import LandmarkModel


@torch.no_grad()
def predict_dataset(
    model: LandmarkModel,
    dataset: LandmarkDataset,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    workers: int = 0,
    channels_last: bool = False,
    flip: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) predicted points in original image pixels and (N, K) scores.

    The model decodes itself (its ``ModelDescription``); the dataset only provides the crops
    (it may follow another scheme in cross-dataset evaluation). ``flip`` averages each crop's
    heatmaps with its mirror image's.
    """
    from torch.utils.data import DataLoader

    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    points, scores = [], []
    for batch in loader:
        images = batch["image"].to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        coords, score = model(images, flip=flip)
        inverse = torch.linalg.inv(batch["matrix"]).to(torch.float64)
        coords = coords.cpu().to(torch.float64)
        original = coords @ inverse[:, :2, :2].transpose(1, 2) + inverse[:, None, :2, 2]
        points.append(original.numpy())
        scores.append(score.cpu().numpy())
    model.train(was_training)
    return np.concatenate(points), np.concatenate(scores)
