"""Checkpoints without pickle: safetensors weights + a JSON sidecar; optimiser state likewise.

``<stem>.safetensors``   model weights
``<stem>.json``          config, epoch, metrics, scheme, versions (everything needed to rebuild)
``<stem>.optim.safetensors`` / ``<stem>.optim.json``   optimiser tensors / the rest of its state
``<stem>.ema.safetensors``   the exponential moving average of the weights (runs with
                             ``train.ema_decay``; its ``best`` holds the average as its weights)

Loading reads tensors with safetensors and metadata with ``json``: a checkpoint file can never
execute code.

Saving is torn-proof: every file goes to ``<name>.tmp`` first; the sidecar, written last, records
the size and SHA-256 of the others (its ``files``) and is the commit point; then the files are
renamed into place, the sidecar last. A kill before the commit point leaves the previous
checkpoint untouched; a kill during the renames leaves ``<stem>.json.tmp``, from which
``recover_checkpoint`` finishes them. Loading checks that the files are the ones the sidecar
records, so a mix of two saves is a clear error, never a silent resume.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from pydantic import TypeAdapter, ValidationError
from torch import nn

import heatmark
from heatmark.data.readers.files import read_json
from heatmark.errors import DataError
from heatmark.models.config import ModelConfig, build_network, heatmap_shape
from heatmark.models.landmark_model import (
    LandmarkModel,
    ModelDescription,
    description_from_training_config,
)

FORMAT = "heatmark-checkpoint"
FORMAT_VERSION = 2
"""2: the sidecar records its files' sizes and hashes (``files``); version 1 is still read."""
TERMS_300W = (
    "Trained on iBUG 300-W annotations: the 300-W terms of use apply to this model "
    "(research and non-commercial use only)."
)
WEIGHTS, OPTIMIZER_TENSORS, OPTIMIZER_STATE = "weights", "optimizer_tensors", "optimizer_state"
EMA_WEIGHTS = "ema_weights"
"""The roles of a checkpoint's files in the sidecar's ``files`` record."""


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DistributedDataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def weights_path(stem: Path) -> Path:
    return stem.with_suffix(".safetensors")


def meta_path(stem: Path) -> Path:
    return stem.with_suffix(".json")


def optimizer_paths(stem: Path) -> tuple[Path, Path]:
    """The optimiser's tensors (safetensors) and the rest of its state (JSON)."""
    return stem.with_suffix(".optim.safetensors"), stem.with_suffix(".optim.json")


def _file_paths(stem: Path) -> dict[str, Path]:
    tensors, state = optimizer_paths(stem)
    return {
        WEIGHTS: weights_path(stem),
        OPTIMIZER_TENSORS: tensors,
        OPTIMIZER_STATE: state,
        EMA_WEIGHTS: stem.with_suffix(".ema.safetensors"),
    }


def _weight_bytes(model: nn.Module) -> bytes:
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    return safetensors.torch.save(state, metadata={"format": FORMAT})


def temporary(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place."""
    return path.with_name(path.name + ".tmp")


def checkpoint_stem(path: str | Path) -> Path:
    """Accept ``x.safetensors``, ``x.json``, ``x`` or a run directory (its ``best``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "best"
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path


# ---------------------------------------------------------------------- writing


def _write_file(path: Path, data: bytes) -> None:
    """Write and flush ``data`` to disk; an OS error names the file."""
    try:
        with path.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        message = f"cannot write the checkpoint file ({error.strerror or error})"
        raise DataError(path, message) from None


def _sync_directory(directory: Path) -> None:
    """Make renames in ``directory`` durable (best effort: not every file system allows it)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _rename(source: Path, target: Path) -> None:
    try:
        source.replace(target)
    except OSError as error:
        message = f"cannot write the checkpoint file ({error.strerror or error})"
        raise DataError(target, message) from None


def _digest(data: bytes) -> dict[str, Any]:
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _optimizer_files(optimizer: torch.optim.Optimizer) -> tuple[bytes, bytes]:
    """Optimiser state as (safetensors of its tensors, JSON of everything else)."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for param_id, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param_id}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(param_id), {})[name] = value
    rest = json.dumps({"param_groups": state_dict["param_groups"], "plain": plain})
    return safetensors.torch.save(tensors), rest.encode()


def save_checkpoint(
    stem: Path,
    model: nn.Module,
    metadata: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    ema: nn.Module | None = None,
) -> None:
    """Write weights (and the optimiser state and the weights' moving average ``ema``, when
    given) and the sidecar, torn-proof: see the module docstring."""
    try:
        stem.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = f"cannot create the folder ({error.strerror or error})"
        raise DataError(stem.parent, message) from None
    pending = temporary(meta_path(stem))
    if pending.exists():  # an earlier save's commit record must not meet this save's files
        recover_checkpoint(stem)
    paths = _file_paths(stem)
    files = {WEIGHTS: _weight_bytes(model)}
    if optimizer is not None:
        files[OPTIMIZER_TENSORS], files[OPTIMIZER_STATE] = _optimizer_files(optimizer)
    if ema is not None:
        files[EMA_WEIGHTS] = _weight_bytes(ema)
    for role, data in files.items():
        _write_file(temporary(paths[role]), data)
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": {
            "heatmark": heatmark.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        **metadata,
        "files": {role: _digest(data) for role, data in files.items()},
    }
    _write_file(pending, json.dumps(sidecar, indent=2, default=str).encode())
    _commit(stem, list(files))


def _commit(stem: Path, roles: list[str]) -> None:
    """Rename the written files into place, then the sidecar (which completes the save)."""
    paths = _file_paths(stem)
    for role in roles:
        source = temporary(paths[role])
        if source.exists():
            _rename(source, paths[role])
    _sync_directory(stem.parent)
    _rename(temporary(meta_path(stem)), meta_path(stem))
    _sync_directory(stem.parent)


def recover_checkpoint(stem: Path) -> bool:
    """Finish a save that was interrupted after its commit point (its sidecar was written), or
    discard the temporaries of one interrupted before it. Whether a save was finished."""
    pending = temporary(meta_path(stem))
    record: Any = None
    if pending.is_file():
        try:
            record = json.loads(pending.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            record = None
    files = record.get("files") if isinstance(record, dict) else None
    complete = (
        isinstance(record, dict)
        and record.get("format") == FORMAT
        and isinstance(files, dict)
        and set(files) <= set(_file_paths(stem))
    )
    if complete:
        _commit(stem, list(files))  # type: ignore[arg-type]
        return True
    for path in (pending, *(temporary(p) for p in _file_paths(stem).values())):
        if path.exists():
            try:
                path.unlink()
            except OSError as error:
                raise DataError(path, f"cannot remove a stale temporary file ({error})") from None
    return False


def save_optimizer(stem: Path, optimizer: torch.optim.Optimizer) -> None:
    """Optimiser state alone: its tensors to safetensors, everything else to JSON (each file
    written to a temporary and renamed into place). ``save_checkpoint(..., optimizer)`` writes
    it together with the weights, which is what resuming checks for."""
    tensors, rest = _optimizer_files(optimizer)
    for path, data in zip(optimizer_paths(stem), (tensors, rest), strict=True):
        _write_file(temporary(path), data)
        _rename(temporary(path), path)


# ---------------------------------------------------------------------- reading


def read_metadata(stem: Path) -> dict[str, Any]:
    path = meta_path(stem)
    meta = read_json(path, "checkpoint sidecar")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(path, f"not a {FORMAT} sidecar")
    return meta


def read_resume_metadata(stem: Path) -> dict[str, Any]:
    """The sidecar of a checkpoint to resume from, with ``config``, a whole ``epoch`` >= 0,
    ``global_step`` and ``best_nme`` checked (a missing one is an error naming the sidecar)."""
    meta = read_metadata(stem)
    path = meta_path(stem)
    if not isinstance(meta.get("config"), dict):
        raise DataError(path, "the sidecar holds no 'config' (cannot resume without it)")
    for key, required in (("epoch", True), ("global_step", False)):
        value = meta.get(key, None if required else 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            what = "no" if key not in meta else f"a bad ({value!r})"
            raise DataError(path, f"the sidecar holds {what} '{key}' (cannot resume without it)")
    best = meta.get("best_nme")
    if best is not None and (isinstance(best, bool) or not isinstance(best, int | float)):
        raise DataError(path, f"the sidecar holds a bad 'best_nme' ({best!r})")
    return meta


def _read_checked(stem: Path, role: str, meta: dict[str, Any] | None, what: str) -> bytes:
    """The bytes of one checkpoint file; with the sidecar ``meta``, checked to be the file it
    records (same size and SHA-256), so files of two different saves never mix."""
    path = _file_paths(stem)[role]
    if not path.is_file():
        raise DataError(path, f"{what} not found")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read {what} ({error.strerror or error})") from None
    record = (meta or {}).get("files")
    if meta is None or record is None:  # format version 1: nothing recorded
        return data
    sidecar = meta_path(stem)
    entry = record.get(role) if isinstance(record, dict) else None
    if not isinstance(entry, dict):
        raise DataError(sidecar, f"the sidecar records no {role.replace('_', ' ')} file")
    if entry.get("bytes") != len(data) or entry.get("sha256") != hashlib.sha256(data).hexdigest():
        raise DataError(
            path,
            f"does not belong to {sidecar.name} (its size or SHA-256 differ from what the "
            "sidecar records): a torn or mixed-up checkpoint",
        )
    return data


def _load_tensors(path: Path, data: bytes, what: str) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load(data)
    except Exception as error:  # safetensors raises several types for corrupt files
        raise DataError(path, f"cannot read safetensors {what}: {error}") from None


def has_ema(stem: Path, meta: dict[str, Any]) -> bool:
    """Whether the checkpoint's sidecar records a moving average of the weights."""
    files = meta.get("files")
    return isinstance(files, dict) and EMA_WEIGHTS in files


def load_weights(
    stem: Path, model: nn.Module, meta: dict[str, Any] | None = None, role: str = WEIGHTS
) -> None:
    """Load ``<stem>.safetensors`` (``role=EMA_WEIGHTS``: its moving average) into ``model``;
    with its sidecar ``meta``, check first that the file is the one the sidecar records.
    Weights that do not fit the model are an error naming the first differing tensor with
    both shapes."""
    path = _file_paths(stem)[role]
    what = "checkpoint weights" if role == WEIGHTS else "the weights' moving average"
    state = _load_tensors(path, _read_checked(stem, role, meta, what), "weights")
    target = unwrap(model)
    upgrade = getattr(target, "upgrade_state", None)  # a network's older weight layout
    if callable(upgrade):
        state = upgrade(state)
    expected = target.state_dict()
    built = f"the model built from {meta_path(stem).name}" if meta is not None else "the model"
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    for key, tensor in expected.items():
        if key in state and state[key].shape != tensor.shape:
            raise DataError(
                path,
                f"weights do not fit {built}: {key} is {tuple(state[key].shape)} in the weights "
                f"but {tuple(tensor.shape)} in the model (the sidecar's model, codec or scheme "
                "differ from the weights')",
            )
    if missing or unexpected:
        parts = [
            f"{label} {keys[0]}" + (f" (and {len(keys) - 1} more)" if len(keys) > 1 else "")
            for label, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        raise DataError(path, f"weights do not fit {built}: " + ", ".join(parts))
    try:
        target.load_state_dict(state)
    except RuntimeError as error:
        raise DataError(path, f"weights do not fit {built}: {error}") from None


def load_optimizer(
    stem: Path, optimizer: torch.optim.Optimizer, meta: dict[str, Any] | None = None
) -> None:
    """Load the optimiser state saved with ``stem``; any damage is an error naming the file."""
    tensor_path, json_path = optimizer_paths(stem)
    what = "optimizer state (cannot resume without it)"
    tensors = _load_tensors(
        tensor_path, _read_checked(stem, OPTIMIZER_TENSORS, meta, what), "optimizer state"
    )
    raw = _read_checked(stem, OPTIMIZER_STATE, meta, what)
    try:
        rest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(json_path, f"not valid optimizer state JSON ({error})") from None
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        param_id, dot, name = key.partition(".")
        if not (param_id.isascii() and param_id.isdigit() and dot and name):
            raise DataError(tensor_path, f"unexpected tensor name {key!r} in optimizer state")
        state.setdefault(int(param_id), {})[name] = value
    try:
        for param_id, entries in rest["plain"].items():
            state.setdefault(int(param_id), {}).update(entries)
        groups = rest["param_groups"]
        _check_groups(groups, optimizer.param_groups)
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as error:
        raise DataError(
            json_path,
            f"optimizer state (with {tensor_path.name}) does not fit this optimizer "
            f"({type(error).__name__}: {error})",
        ) from None


def _check_groups(saved: Any, current: list[dict[str, Any]]) -> None:
    """Saved parameter groups must match the optimiser's in number, list their ``params`` and
    hold numbers where it has numbers (torch itself only finds out at the next step)."""
    if not isinstance(saved, list) or len(saved) != len(current):
        raise ValueError(f"{len(current)} parameter group(s) expected")

    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    for group, now in zip(saved, current, strict=True):
        if not isinstance(group, dict) or not isinstance(group.get("params"), list):
            raise ValueError("a parameter group must be a mapping with a 'params' list")
        for key, value in now.items():
            if number(value) and not number(group.get(key)):
                raise TypeError(f"param_groups {key}: a number expected, not {group.get(key)!r}")


# ---------------------------------------------------------------- models for inference


def read_description(meta: dict[str, Any], source: str) -> ModelDescription:
    """A sidecar's model description: its ``description``, or (older sidecars) derived from
    its training ``config`` and ``scheme``."""
    if "description" in meta:
        return ModelDescription.from_dict(meta["description"], source)
    return description_from_training_config(meta.get("config"), meta.get("scheme"), source)


def load_landmark_model(path: str | Path) -> LandmarkModel:
    """Load a checkpoint (``x.safetensors``/``x.json`` or a run directory's ``best``) as a
    self-describing ``LandmarkModel``, in eval mode, without the training package.

    The sidecar must describe the weights: the network it builds must take them (same tensors
    and shapes), and must output ``heatmap_size`` maps at ``input_size`` (checked with one
    forward pass), else decoding would silently use the wrong scale. Any mismatch is a
    ``DataError`` naming the file.
    """
    stem = checkpoint_stem(path)
    sidecar = str(meta_path(stem))
    meta = read_metadata(stem)
    description = read_description(meta, sidecar)
    config = meta.get("config")
    network_config = meta.get("model", config.get("model") if isinstance(config, dict) else None)
    if not isinstance(network_config, dict):
        raise DataError(sidecar, "the sidecar holds no model configuration ('config.model')")
    try:
        network_config = TypeAdapter(ModelConfig).validate_python(network_config)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "model"
        raise DataError(sidecar, f"config.model.{where}: {first['msg']}") from None
    try:
        network = build_network(
            network_config, description.num_points, description.codec().has_boundary
        )
    except ValueError as error:
        raise DataError(sidecar, str(error)) from None
    load_weights(stem, network, meta)
    network.eval()
    size, expected = description.input_size, description.heatmap_size
    try:
        _, height, width = heatmap_shape(network, size)
    except (RuntimeError, ValueError) as error:
        raise DataError(sidecar, f"the model cannot run at input_size {size}: {error}") from None
    if (height, width) != (expected, expected):
        raise DataError(
            sidecar,
            f"heatmap_size is {expected} but the weights give {height}x{width} heatmaps at "
            f"input_size {size}: the sidecar does not describe these weights",
        )
    model = LandmarkModel(network, description).eval()
    model.terms = meta.get("terms")
    return model
