"""The weights' moving average (``train.ema_decay``): its arithmetic, what ``best`` keeps, and
an exact resume that carries the average along."""

from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from torch import nn

from heatmark.models.checkpoint import (
    EMA_WEIGHTS,
    has_ema,
    load_landmark_model,
    load_weights,
    read_metadata,
)
from heatmark.train.ema import WeightAverage
from heatmark.train.trainer import Trainer


def test_the_average_follows_the_decay_and_copies_integer_buffers() -> None:
    live = nn.Sequential(nn.Linear(2, 1, bias=False), nn.BatchNorm1d(1))
    with torch.no_grad():
        live[0].weight.fill_(0.0)
    average = WeightAverage(live, decay=0.9)
    with torch.no_grad():
        live[0].weight.fill_(1.0)
        live[1].num_batches_tracked.fill_(7)
    average.update(live)  # step 1: decay min(0.9, 2/11)
    first = 1 - 2 / 11
    assert average.network[0].weight.flatten().tolist() == pytest.approx([first, first])
    assert int(average.network[1].num_batches_tracked) == 7
    for _ in range(200):
        average.update(live)
    # later steps use 0.9: after 200 more, the average is within 0.9**150 of the live weight
    assert average.network[0].weight.flatten().tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert not any(p.requires_grad for p in average.network.parameters())
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(live, decay=1.0)


def test_best_holds_the_average_and_last_holds_both(tmp_path: Path, tiny_faces) -> None:
    config = tiny_config(tmp_path, train={"ema_decay": 0.9})
    trainer = Trainer(config, tiny_faces)
    trainer.fit()
    run = tmp_path / "runs" / "tiny"
    last_meta = read_metadata(run / "last")
    assert has_ema(run / "last", last_meta)
    assert not has_ema(run / "best", read_metadata(run / "best"))
    averaged = load_landmark_model(run / "best").network.state_dict()
    for name, tensor in trainer.ema.network.state_dict().items():
        assert torch.equal(averaged[name], tensor), name
    live = trainer.model.state_dict()
    assert any(not torch.equal(live[n], t) for n, t in averaged.items())
    stored = Trainer(config, tiny_faces).ema.network
    load_weights(run / "last", stored, last_meta, role=EMA_WEIGHTS)
    for name, tensor in trainer.ema.network.state_dict().items():
        assert torch.equal(stored.state_dict()[name], tensor), name


def test_resume_carries_the_average_exactly(tmp_path: Path, tiny_faces) -> None:
    """2 epochs straight == 1 epoch, stop, resume: the same average, bit for bit."""
    ema = {"ema_decay": 0.95}
    straight = Trainer(tiny_config(tmp_path / "a", schedule={"epochs": 2}, train=ema), tiny_faces)
    straight.fit()
    Trainer(tiny_config(tmp_path / "b", schedule={"epochs": 1}, train=ema), tiny_faces).fit()
    second = Trainer(tiny_config(tmp_path / "b", schedule={"epochs": 2}, train=ema), tiny_faces)
    second.resume(tmp_path / "b" / "runs" / "tiny", allow_changes=True)
    second.fit()
    assert second.ema.updates == straight.ema.updates
    pairs = zip(
        straight.ema.network.state_dict().items(),
        second.ema.network.state_dict().items(),
        strict=True,
    )
    for (name, a), (_, b) in pairs:
        assert torch.equal(a, b), name
