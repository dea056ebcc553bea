"""Inference never needs the training package: not in what it imports (statically, including
imports inside functions), and not at run time on any inference path (checked with
``heatmark.train`` made unimportable)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src"
INFERENCE = ("heatmark.predict", "heatmark.models", "heatmark.export", "heatmark.evaluate")
TRAINING = "heatmark.train"


def module_file(name: str) -> Path | None:
    base = SOURCE.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(name: str) -> set[str]:
    """Every heatmark module ``name`` imports, at module level or inside functions, plus the
    packages whose ``__init__`` those imports run."""
    path = module_file(name)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    modules = {m for m in found if m.startswith("heatmark") and module_file(m)}
    parents = {".".join(m.split(".")[:i]) for m in modules for i in range(1, m.count(".") + 1)}
    return modules | parents


def inference_modules() -> list[str]:
    names = []
    for package in INFERENCE:
        folder = SOURCE.joinpath(*package.split("."))
        for path in sorted(folder.rglob("*.py")):
            relative = path.relative_to(SOURCE).with_suffix("")
            names.append(".".join(relative.parts).removesuffix(".__init__"))
    return names


def test_the_graph_walker_sees_lazy_imports_of_training() -> None:
    """The check below can fail: the CLI imports the trainer inside its ``train`` command."""
    assert any(m.startswith(TRAINING) for m in imported_modules("heatmark.cli"))


@pytest.mark.parametrize("module", inference_modules())
def test_no_inference_module_reaches_the_training_package(module: str) -> None:
    parent: dict[str, str | None] = {module: None}
    stack = [module]
    while stack:
        current = stack.pop()
        for child in imported_modules(current):
            if child not in parent:
                parent[child] = current
                stack.append(child)
    reached = sorted(m for m in parent if m == TRAINING or m.startswith(TRAINING + "."))
    if reached:
        chain, step = [], reached[0]
        while step is not None:
            chain.append(step)
            step = parent[step]
        pytest.fail("imports the training package: " + " <- ".join(chain))


BLOCKED_RUN = """
import importlib.abc, sys

class NoTraining(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "heatmark.train" or name.startswith("heatmark.train."):
            raise ImportError("inference imported " + name)

sys.meta_path.insert(0, NoTraining())

from pathlib import Path
import numpy as np
from typer.testing import CliRunner
import heatmark
from heatmark.cli import app

root, checkpoint = Path(sys.argv[1]), Path(sys.argv[2])
photo = root / "photos" / "p0.png"
runner = CliRunner()

def cli(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.output, result.exception)

heatmark.Predictor().predict(photo)
heatmark.Predictor.from_checkpoint(checkpoint, detector="none", flip=True).predict(photo)
heatmark.Predictor(detector="none", backend="onnx").predict(photo)
frames = [np.zeros((64, 64, 3), np.uint8)] * 3
list(heatmark.Predictor(detector="none").track(frames, smooth=True))
cli("predict", root / "photos", "--detector", "none", "--out", root / "p.json")
cli("predict", photo, "--checkpoint", checkpoint, "--detector", "none")
cli("export", checkpoint, "-o", root / "m.onnx")
cli("predict", photo, "--checkpoint", root / "m.onnx", "--detector", "none")
cli("eval", "--pred", root / "p.json", "--gt", root / "photos")
cli("eval", "--checkpoint", checkpoint, "--gt", root / "photos", "--split", "val")
cli("robustness", "run", "--data", root / "photos", "--model", f"m={checkpoint}",
    "--protocols", "clean,noise-large", "--out", root / "report")
print(sorted(m for m in sys.modules if m.startswith("heatmark.train")))
"""


def test_every_inference_path_runs_with_the_training_package_unimportable(tmp_path: Path):
    pytest.importorskip("onnxruntime")
    from heatmark.data.readers.pts import write_pts
    from heatmark.data.synthetic import synthetic_faces
    from heatmark.train.config import config_from_dict
    from heatmark.train.trainer import Trainer

    photos = tmp_path / "photos"
    photos.mkdir()
    for i, sample in enumerate(synthetic_faces(10, seed=5, size=96)):
        cv2.imwrite(str(photos / f"p{i}.png"), cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR))
        write_pts(photos / f"p{i}.pts", sample.points)
    config = config_from_dict(
        {
            "name": "tiny",
            "output": str(tmp_path / "runs"),
            "data": {"input_size": 64, "workers": 0},
            "codec": {"heatmap_size": 16},
            "model": {"stacks": 1, "width": 16, "depth": 2},
            "schedule": {"epochs": 1},
            "train": {"batch_size": 8, "progress": False, "threads": 1},
        }
    )
    faces = synthetic_faces(12, seed=0, size=64)
    Trainer(config, (faces[:10], faces[10:])).fit()  # a checkpoint as the trainer writes it
    script = textwrap.dedent(BLOCKED_RUN)
    checkpoint = tmp_path / "runs" / "tiny" / "last"
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(checkpoint)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
