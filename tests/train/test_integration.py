"""CI-sized end-to-end check: a tiny hourglass learns landmarks on synthetic faces (~30 s)."""

import pytest
import torch

from heatmark.data.synthetic import synthetic_faces
from heatmark.evaluate.evaluation import evaluate_samples
from heatmark.evaluate.inference import predict_dataset
from heatmark.train.config import config_from_dict
from heatmark.train.trainer import Trainer


@pytest.mark.slow
def test_tiny_model_learns_on_synthetic_faces(tmp_path) -> None:
    torch.set_num_threads(2)
    train, val = synthetic_faces(400, seed=0, size=64), synthetic_faces(64, seed=99, size=64)
    config = config_from_dict(
        {
            "name": "integration",
            "output": str(tmp_path),
            "data": {"input_size": 64, "workers": 0},
            "codec": {"heatmap_size": 16, "sigma": 1.0},
            "model": {"stacks": 1, "width": 32, "depth": 3},
            "optimizer": {"name": "adam", "lr": 2e-3, "weight_decay": 0.0},
            "schedule": {"epochs": 6, "kind": "cosine", "warmup_epochs": 1},
            "train": {"batch_size": 16, "val_every": 100, "progress": False},
        }
    )
    trainer = Trainer(config, (train, val))

    def nme() -> float:
        pred, _ = predict_dataset(trainer.landmark_model, trainer.val_set)
        return evaluate_samples(pred, val).nme

    before = nme()
    result = trainer.fit()
    after = nme()
    assert result.epochs_done == 6
    assert after < before / 3, (before, after)
    assert after < 0.35
