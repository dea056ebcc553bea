"""Property-based tests: whatever the config text, override or checkpoint bytes, the loaders
either succeed or raise ``ConfigError`` / ``DataError`` naming the file or the key; never
anything else (a traceback for the user)."""

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from conftest import tiny_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heatmark import recipes
from heatmark.errors import ConfigError, DataError
from heatmark.models.checkpoint import (
    load_optimizer,
    load_weights,
    optimizer_paths,
    read_metadata,
    read_resume_metadata,
    save_checkpoint,
)
from heatmark.schemes import FACE_68
from heatmark.train.build import build_codec, build_model
from heatmark.train.config import Config, load_config
from heatmark.train.restore import load_trained

CONFIGS = sorted(Path(recipes.__file__).parent.glob("*.yaml"))  # the bundled recipes
QUICK = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SLOW = settings(QUICK, max_examples=40)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-3, 300)
    | st.floats(allow_nan=True, allow_infinity=True, width=32)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def folder():
    path = Path(tempfile.mkdtemp(prefix="heatmark-properties-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _load_file(path: Path, data: bytes) -> None:
    """``load_config`` of ``data``: a ``Config``, or a ``ConfigError`` naming the file."""
    path.write_bytes(data)
    try:
        assert isinstance(load_config(path), Config)
    except ConfigError as error:
        assert str(error).startswith(str(path)), str(error)


@QUICK
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_config_file_of_any_bytes(folder: Path, data: bytes) -> None:
    _load_file(folder / "any.yaml", data)


@QUICK
@given(tree=st.dictionaries(st.text(max_size=10) | st.integers(), values, max_size=4))
def test_config_file_of_any_yaml_tree(folder: Path, tree: dict) -> None:
    _load_file(folder / "tree.yaml", yaml.safe_dump(tree).encode())


def _leaves(tree: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(tree, dict) and tree:
        return [leaf for key, value in tree.items() for leaf in _leaves(value, (*path, key))]
    return [path]


def _set(tree: dict, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        tree = tree[key]
    if value is _DELETE:
        del tree[path[-1]]
    else:
        tree[path[-1]] = value


_DELETE = object()


@QUICK
@given(
    recipe=st.sampled_from(CONFIGS),
    mutations=st.lists(
        st.tuples(st.integers(0, 10_000), values | st.just(_DELETE)), min_size=1, max_size=3
    ),
)
def test_mutated_recipes(folder: Path, recipe: Path, mutations: list) -> None:
    tree = yaml.safe_load(recipe.read_text())
    for index, value in mutations:
        leaves = _leaves(tree)
        path = leaves[index % len(leaves)]
        if path:
            _set(tree, path, value)
    _load_file(folder / "mutated.yaml", yaml.safe_dump(tree).encode())


@QUICK
@given(
    recipe=st.sampled_from(CONFIGS),
    edits=st.lists(st.tuples(st.integers(0, 1000), st.sampled_from(["dup", "drop", "indent"]))),
)
def test_recipes_with_edited_lines(folder: Path, recipe: Path, edits: list) -> None:
    """Repeated lines (duplicate keys), dropped lines and stray indentation."""
    lines = recipe.read_text().splitlines()
    for index, edit in edits:
        if not lines:
            break
        i = index % len(lines)
        if edit == "dup":
            lines.insert(i, lines[i])
        elif edit == "drop":
            del lines[i]
        else:
            lines[i] = "  " + lines[i]
    _load_file(folder / "edited.yaml", "\n".join(lines).encode())


KEYS = ["name", "seed", "data.train", "data.val_subset", "model.width", "model", "loss.name"]


@QUICK
@given(
    override=st.text(max_size=40)
    | st.builds(
        "{}={}".format,
        st.sampled_from(KEYS) | st.text(max_size=12),
        st.text(max_size=20) | values.map(lambda v: yaml.safe_dump(v, default_flow_style=True)),
    )
)
def test_any_override(override: str) -> None:
    try:
        assert isinstance(load_config(None, [override]), Config)
    except ConfigError as error:
        message = str(error)
        first = override.partition("=")[0].split(".")[0]
        named = re.search(rf"(^|: ){re.escape(first)}[.:]", message, re.MULTILINE)
        assert repr(override) in message or named, (override, message)


# ---------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def checkpoint(folder: Path) -> dict[str, bytes]:
    """The files of a small saved checkpoint (weights, optimiser state, sidecar)."""
    config = tiny_config(folder)
    codec = build_codec(config.codec, config.data.input_size, FACE_68)
    model = build_model(config.model, 68, codec.has_boundary)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 3, 64, 64))[-1].sum().backward()
    optimizer.step()
    meta = {"config": config.model_dump(mode="json"), "epoch": 0, "scheme": "300w-68"}
    save_checkpoint(folder / "saved" / "last", model, meta, optimizer)
    return _Files({p.name: p.read_bytes() for p in (folder / "saved").iterdir()})


class _Files(dict):
    """File name -> bytes, with a short repr for hypothesis' reports."""

    def __repr__(self) -> str:
        return f"<checkpoint files {sorted(self)}>"


def _fresh(folder: Path, files: dict[str, bytes], **replaced: bytes) -> Path:
    """A checkpoint folder holding ``files``, some replaced; its stem."""
    target = folder / "case"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for name, data in {**files, **replaced}.items():
        (target / name).write_bytes(data)
    return target / "last"


def _model_and_optimizer():
    model = build_model(tiny_config(Path(".")).model, 68, False)
    return model, torch.optim.Adam(model.parameters(), lr=1e-3)


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """Overwrite bytes at positions (modulo the length), then truncate at ``cut``."""
    buffer = bytearray(data)
    for position, value in edits:
        if buffer:
            buffer[position % len(buffer)] = value
    return bytes(buffer[:cut] if cut is not None else buffer)


damage = st.tuples(
    st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=3),
    st.none() | st.integers(0, 1 << 20),
)


def _named(error: Exception, *paths: Path) -> bool:
    return any(str(path) in str(error) for path in paths)


@QUICK
@given(data=st.binary(max_size=300) | values.map(lambda v: json.dumps(v).encode()))
def test_sidecar_of_any_bytes(folder: Path, checkpoint: dict, data: bytes) -> None:
    stem = _fresh(folder, checkpoint, **{"last.json": data})
    for read in (read_metadata, read_resume_metadata):
        try:
            assert isinstance(read(stem), dict)
        except DataError as error:
            assert error.path == stem.with_suffix(".json"), str(error)


@SLOW
@given(
    mutations=st.lists(
        st.tuples(st.integers(0, 10_000), values | st.just(_DELETE)), min_size=1, max_size=2
    )
)
def test_mutated_sidecar_loads_or_names_it(folder: Path, checkpoint: dict, mutations) -> None:
    meta = json.loads(checkpoint["last.json"])
    for index, value in mutations:
        leaves = [leaf for leaf in _leaves(meta) if leaf and leaf[0] != "files"]
        _set(meta, leaves[index % len(leaves)], value)
    stem = _fresh(folder, checkpoint, **{"last.json": json.dumps(meta).encode()})
    try:
        load_trained(stem)
    except (DataError, ConfigError) as error:
        assert _named(error, stem.with_suffix(".json"), stem.with_suffix(".safetensors"))


@QUICK
@given(
    name=st.sampled_from(["last.optim.json", "last.optim.safetensors"]),
    damaged=damage,
    arbitrary=st.none() | st.binary(max_size=200),
    checked=st.booleans(),
)
def test_damaged_optimizer_state(folder, checkpoint, name, damaged, arbitrary, checked) -> None:
    data = arbitrary if arbitrary is not None else _mutate(checkpoint[name], *damaged)
    stem = _fresh(folder, checkpoint, **{name: data})
    _, optimizer = _model_and_optimizer()
    try:
        load_optimizer(stem, optimizer, read_metadata(stem) if checked else None)
    except DataError as error:
        # unchecked, tensors and JSON that do not fit together are reported on the JSON file
        pair = (stem.parent / name,) if checked else optimizer_paths(stem)
        assert error.path in pair and name in str(error), str(error)


@SLOW
@given(damaged=damage, checked=st.booleans())
def test_damaged_weights(folder: Path, checkpoint: dict, damaged, checked: bool) -> None:
    stem = _fresh(
        folder,
        checkpoint,
        **{"last.safetensors": _mutate(checkpoint["last.safetensors"], *damaged)},
    )
    model, _ = _model_and_optimizer()
    try:
        load_weights(stem, model, read_metadata(stem) if checked else None)
    except DataError as error:
        assert error.path == stem.with_suffix(".safetensors"), str(error)
