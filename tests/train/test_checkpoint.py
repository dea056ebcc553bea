"""Checkpoints: safetensors + JSON, optimiser state, clear errors, no pickle, never torn."""

import json
import re
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

from heatmark.errors import DataError
from heatmark.models import checkpoint
from heatmark.models.checkpoint import (
    load_optimizer,
    load_weights,
    read_metadata,
    read_resume_metadata,
    recover_checkpoint,
    save_checkpoint,
    save_optimizer,
)
from heatmark.schemes import FACE_68
from heatmark.train.build import build_codec, build_model
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


def _saved_run(tmp_path: Path):
    """A saved tiny checkpoint (weights, optimiser state, sidecar) and its model."""
    config, model = _model(tmp_path)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 3, 64, 64))[-1].sum().backward()
    optimizer.step()
    meta = {"config": config.model_dump(mode="json"), "epoch": 0, "scheme": "300w-68"}
    stem = tmp_path / "run" / "last"
    save_checkpoint(stem, model, meta, optimizer)
    return stem, model, optimizer


def _edit_sidecar(stem: Path, edit) -> None:
    path = stem.with_suffix(".json")
    meta = json.loads(path.read_text())
    edit(meta)
    path.write_text(json.dumps(meta))


def test_sidecar_heatmap_size_must_match_the_weights(tmp_path: Path) -> None:
    """A sidecar whose codec/input size disagree with the weights would decode at the wrong
    scale (NME 184%): loading checks the model's real output size."""
    stem, _, _ = _saved_run(tmp_path)
    assert load_trained(stem).codec.heatmap_size == 16

    def bigger_maps(meta):
        meta["config"]["codec"]["heatmap_size"] = 32

    _edit_sidecar(stem, bigger_maps)
    with pytest.raises(DataError, match=r"heatmap_size is 32 but the weights give 16x16") as e:
        load_trained(stem)
    assert e.value.path == stem.with_suffix(".json")

    def bigger_input(meta):
        meta["config"]["codec"]["heatmap_size"] = 16
        meta["config"]["data"]["input_size"] = 128

    _edit_sidecar(stem, bigger_input)
    with pytest.raises(DataError, match=r"heatmap_size is 16 but the weights give 32x32 .* 128"):
        load_trained(stem)


def test_sidecar_of_another_model_names_the_first_differing_tensor(tmp_path: Path) -> None:
    stem, model, _ = _saved_run(tmp_path)

    def wider(meta):
        meta["config"]["model"]["width"] = 32

    _edit_sidecar(stem, wider)
    with pytest.raises(DataError) as caught:
        load_trained(stem)
    message = str(caught.value)
    assert message.startswith(f"{stem.with_suffix('.safetensors')}: ")
    shapes = r"weights do not fit the model built from last.json: (\S+) is (\(.*?\)) in the "
    found = re.search(shapes + r"weights but (\(.*?\)) in the model", message)
    assert found is not None, message
    key, in_weights, in_model = found.groups()
    assert key in model.state_dict() and in_weights != in_model
    assert in_weights == str(tuple(model.state_dict()[key].shape))
    assert "\n" not in message and len(message) < 400

    def other_scheme(meta):
        meta["config"]["model"]["width"] = 16
        meta["scheme"] = "wflw-98"

    _edit_sidecar(stem, other_scheme)
    with pytest.raises(DataError, match=r"weights do not fit .*\(68, 16, 1, 1\).*\(98, 16, 1, 1\)"):
        load_trained(stem)
    _edit_sidecar(stem, lambda meta: meta.pop("config"))
    with pytest.raises(DataError, match="holds no 'config'") as caught:
        load_trained(stem)
    assert caught.value.path == stem.with_suffix(".json")


def test_files_of_two_saves_never_mix(tmp_path: Path) -> None:
    stem, model, optimizer = _saved_run(tmp_path)
    old_weights = stem.with_suffix(".safetensors").read_bytes()
    old_optim = stem.with_suffix(".optim.safetensors").read_bytes()
    model(torch.rand(2, 3, 64, 64))[-1].sum().backward()
    optimizer.step()
    save_checkpoint(stem, model, {"epoch": 1}, optimizer)
    meta = read_metadata(stem)
    load_weights(stem, model, meta)
    load_optimizer(stem, optimizer, meta)
    stem.with_suffix(".optim.safetensors").write_bytes(old_optim)
    with pytest.raises(DataError, match=r"last.optim.safetensors: does not belong to last.json"):
        load_optimizer(stem, optimizer, meta)
    stem.with_suffix(".safetensors").write_bytes(old_weights)
    with pytest.raises(DataError, match=r"last.safetensors: does not belong to last.json"):
        load_weights(stem, model, meta)


def test_an_interrupted_save_is_finished_or_discarded(tmp_path: Path, monkeypatch) -> None:
    """A kill after the sidecar was written (the commit point) is finished on recovery; a kill
    before it leaves the previous checkpoint, whole."""
    stem, model, optimizer = _saved_run(tmp_path)
    before = {p.name: p.read_bytes() for p in stem.parent.iterdir()}
    real_replace = Path.replace
    renames = []

    def killed_after_two(self, target):
        if len(renames) == 2:
            raise KeyboardInterrupt  # the process dies between two renames
        renames.append(self)
        return real_replace(self, target)

    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    monkeypatch.setattr(Path, "replace", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(stem, model, {"epoch": 1, "scheme": "x"}, optimizer)
    monkeypatch.setattr(Path, "replace", real_replace)
    meta = read_metadata(stem)  # still the old sidecar, with new files beside it
    with pytest.raises(DataError, match=r"last\.safetensors: does not belong"):
        load_weights(stem, model, meta)
    assert recover_checkpoint(stem)
    meta = read_metadata(stem)
    assert meta["epoch"] == 1 and not list(stem.parent.glob("*.tmp"))
    load_weights(stem, model, meta)
    load_optimizer(stem, optimizer, meta)

    # killed while writing the sidecar: the previous checkpoint stays as it was
    saved = {p.name: p.read_bytes() for p in stem.parent.iterdir()}
    assert saved != before
    real_write = checkpoint._write_file

    def killed_in_sidecar(path, data):
        if path.name == "last.json.tmp":
            path.write_bytes(data[: len(data) // 2])
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "_write_file", killed_in_sidecar)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(stem, model, {"epoch": 2}, optimizer)
    assert not recover_checkpoint(stem)
    assert {p.name: p.read_bytes() for p in stem.parent.iterdir()} == saved


def test_damaged_resume_files_name_the_file(tmp_path: Path) -> None:
    stem, _, optimizer = _saved_run(tmp_path)
    meta = read_metadata(stem)
    tensors, state = stem.with_suffix(".optim.safetensors"), stem.with_suffix(".optim.json")
    good = {path: path.read_bytes() for path in (tensors, state)}
    for path in (tensors, state):
        path.write_bytes(good[path][: len(good[path]) // 2])  # truncated
        for sidecar in (meta, None):  # checked against the sidecar, or read as it is
            with pytest.raises(DataError) as caught:
                load_optimizer(stem, optimizer, sidecar)
            assert caught.value.path == path, str(caught.value)
        path.write_bytes(good[path])
    state.write_text('{"param_groups": [{"params": [0], "lr": "fast"}], "plain": {}}')
    with pytest.raises(
        DataError,
        match=r"last.optim.json: optimizer state \(with last.optim.safetensors\) does not fit",
    ):
        load_optimizer(stem, optimizer)
    assert read_resume_metadata(stem)["epoch"] == 0
    for broken, match in (
        (lambda m: m.pop("epoch"), "holds no 'epoch'"),
        (lambda m: m.update(epoch="3"), r"holds a bad \('3'\) 'epoch'"),
        (lambda m: m.pop("config"), "holds no 'config'"),
    ):
        _edit_sidecar(stem, broken)
        with pytest.raises(DataError, match=match) as caught:
            read_resume_metadata(stem)
        assert caught.value.path == stem.with_suffix(".json")
        stem.with_suffix(".json").write_text(json.dumps(meta))
