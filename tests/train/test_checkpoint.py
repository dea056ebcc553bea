"""Checkpoints: safetensors + JSON, optimiser state, clear errors, no pickle."""

from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from heatmark.errors import DataError
from heatmark.schemes import FACE_68
from heatmark.train.build import build_codec, build_model
from heatmark.train.checkpoint import (
    load_optimizer,
    load_weights,
    read_metadata,
    save_checkpoint,
    save_optimizer,
)
from heatmark.train.restore import load_trained


def _model(tmp_path: Path):
    config = tiny_config(tmp_path)
    codec = build_codec(config.codec, config.data.input_size, FACE_68)
    return config, build_model(config.model, 68, codec.has_boundary)


def test_weights_and_metadata_round_trip(tmp_path: Path) -> None:
    config, model = _model(tmp_path)
    stem = tmp_path / "ck" / "best"
    save_checkpoint(
        stem,
        model,
        {
            "config": config.model_dump(mode="json"),
            "epoch": 3,
            "scheme": "300w-68",
            "metrics": {"nme": 0.05},
        },
    )
    assert stem.with_suffix(".safetensors").is_file() and stem.with_suffix(".json").is_file()
    meta = read_metadata(stem)
    assert meta["epoch"] == 3 and meta["versions"]["torch"] == torch.__version__
    trained = load_trained(stem.with_suffix(".safetensors"))
    for (name, a), b in zip(
        model.state_dict().items(), trained.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
    assert trained.scheme is FACE_68 and trained.codec.heatmap_size == 16


def test_optimizer_round_trip(tmp_path: Path) -> None:
    _, model = _model(tmp_path)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    model(torch.rand(2, 3, 64, 64))[-1].sum().backward()
    optimizer.step()
    save_optimizer(tmp_path / "last", optimizer)
    fresh = torch.optim.RMSprop(model.parameters(), lr=5.0)
    load_optimizer(tmp_path / "last", fresh)
    assert fresh.param_groups[0]["lr"] == 1e-3
    for key, state in optimizer.state.items():
        restored = fresh.state[key]
        assert torch.equal(state["square_avg"], restored["square_avg"])
        assert float(state["step"]) == float(restored["step"])


def test_bad_checkpoints_give_clear_errors(tmp_path: Path) -> None:
    _, model = _model(tmp_path)
    with pytest.raises(DataError, match="sidecar not found"):
        read_metadata(tmp_path / "nothing")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        read_metadata(tmp_path / "bad")
    (tmp_path / "other.json").write_text('{"format": "pickle"}')
    with pytest.raises(DataError, match="not a heatmark-checkpoint"):
        read_metadata(tmp_path / "other")
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04garbage-that-is-a-pickle-header")
    with pytest.raises(DataError, match="cannot read safetensors"):
        load_weights(tmp_path / "junk", model)
    _, other = _model(tmp_path)
    small = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path / "linear", small, {})
    with pytest.raises(DataError, match="do not fit"):
        load_weights(tmp_path / "linear", other)
