"""Checkpoints without pickle: safetensors weights + a JSON sidecar; optimiser state likewise.

``<stem>.safetensors``   model weights
``<stem>.json``          config, epoch, metrics, scheme, versions (everything needed to rebuild)
``<stem>.optim.safetensors`` / ``<stem>.optim.json``   optimiser tensors / the rest of its state

Loading reads tensors with safetensors and metadata with ``json``: a checkpoint file can never
execute code.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

import heatmark
from heatmark.data.readers.files import read_json
from heatmark.errors import DataError

FORMAT = "heatmark-checkpoint"
FORMAT_VERSION = 1
TERMS_300W = (
    "Trained on iBUG 300-W annotations: the 300-W terms of use apply to this model "
    "(research and non-commercial use only)."
)


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


def checkpoint_stem(path: str | Path) -> Path:
    """Accept ``x.safetensors``, ``x.json``, ``x`` or a run directory (its ``best``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "best"
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path


def save_checkpoint(stem: Path, model: nn.Module, metadata: dict[str, Any]) -> None:
    """Write weights and sidecar atomically (temporary file + rename)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
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
    }
    tmp = weights_path(stem).with_suffix(".safetensors.tmp")
    safetensors.torch.save_file(state, str(tmp), metadata={"format": FORMAT})
    tmp.replace(weights_path(stem))
    tmp_meta = meta_path(stem).with_suffix(".json.tmp")
    tmp_meta.write_text(json.dumps(sidecar, indent=2, default=str))
    tmp_meta.replace(meta_path(stem))


def read_metadata(stem: Path) -> dict[str, Any]:
    path = meta_path(stem)
    meta = read_json(path, "checkpoint sidecar")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(path, f"not a {FORMAT} sidecar")
    return meta


def load_weights(stem: Path, model: nn.Module) -> None:
    path = weights_path(stem)
    if not path.is_file():
        raise DataError(path, "checkpoint weights not found")
    try:
        state = safetensors.torch.load_file(str(path))
    except Exception as error:  # safetensors raises several types for corrupt files
        raise DataError(path, f"cannot read safetensors weights: {error}") from None
    missing, unexpected = unwrap(model).load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(
            path,
            f"weights do not fit the model: missing {missing[:3]}..., unexpected {unexpected[:3]}",
        )


def save_optimizer(stem: Path, optimizer: torch.optim.Optimizer) -> None:
    """Optimiser state: its tensors to safetensors, everything else to JSON."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for param_id, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{param_id}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(param_id), {})[name] = value
    safetensors.torch.save_file(tensors, str(stem.with_suffix(".optim.safetensors")))
    stem.with_suffix(".optim.json").write_text(
        json.dumps({"param_groups": state_dict["param_groups"], "plain": plain})
    )


def load_optimizer(stem: Path, optimizer: torch.optim.Optimizer) -> None:
    tensor_path = stem.with_suffix(".optim.safetensors")
    json_path = stem.with_suffix(".optim.json")
    for path in (tensor_path, json_path):
        if not path.is_file():
            raise DataError(path, "optimizer state not found (cannot resume without it)")
    tensors = safetensors.torch.load_file(str(tensor_path))
    rest = json.loads(json_path.read_text())
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        param_id, name = key.split(".", 1)
        state.setdefault(int(param_id), {})[name] = value
    for param_id, entries in rest["plain"].items():
        state.setdefault(int(param_id), {}).update(entries)
    optimizer.load_state_dict({"state": state, "param_groups": rest["param_groups"]})
