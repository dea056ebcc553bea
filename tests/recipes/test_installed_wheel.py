"""A pip-installed heatmark is complete: the wheel (not the editable checkout), installed into a
fresh virtual environment and run from an empty folder, lists, prints and loads the recipes,
plans the reproduction grid and re-creates the shipped model's files.

Fast and offline: the wheel is built without build isolation from a copy of the sources, and the
new environment gets heatmark's dependencies through a ``.pth`` line naming this interpreter's
site-packages. Python does not process ``.pth`` files in a folder that a ``.pth`` line adds, so
the checkout's editable install (its own ``.pth``) stays invisible there; the test checks that
``heatmark`` is imported from the new environment.
"""

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from heatmark import recipes
from heatmark.models.shipped import SHIPPED_NAME, SHIPPED_RECIPE

REPOSITORY = Path(__file__).resolve().parents[2]


def _run(command: list, cwd: Path, env: dict, timeout: float = 240) -> str:
    """``command``'s standard output; a failure shows both streams."""
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{command}: exit {result.returncode}\n{output}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(the new environment's bin folder, the environment variables to run it with)."""
    root = tmp_path_factory.mktemp("wheel")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    source = root / "source"  # a copy: the build writes build/ and *.egg-info beside it
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPOSITORY / name, source / name)
    shutil.copytree(
        REPOSITORY / "src",
        source / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    pip = [sys.executable, "-m", "pip"]
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    _run([*pip, *build, "-w", root / "dist", source], root, env)
    wheels = list((root / "dist").glob("heatmark-*.whl"))
    assert len(wheels) == 1, wheels

    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], root, env)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root, env
    )
    ours = [sysconfig.get_path("purelib"), *site.getsitepackages()]
    (Path(purelib.strip()) / "heatmark_test_dependencies.pth").write_text(
        "\n".join(dict.fromkeys(ours)) + "\n"
    )
    # -I: never look at (or uninstall) the checkout's editable heatmark that the .pth makes
    # visible to pip; the wheel goes into the new environment's own site-packages
    install = ["install", "-q", "--no-deps", "--no-index", "-I", "--no-compile"]
    _run([python, "-m", "pip", *install, wheels[0]], root, env)
    return bin_dir, env


@pytest.mark.slow
def test_the_wheel_alone_lists_loads_plans_and_packages(
    installed: tuple[Path, dict], tmp_path: Path
) -> None:
    bin_dir, env = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    python = bin_dir / "python"
    where = _run([python, "-c", "import heatmark; print(heatmark.__file__)"], empty, env)
    assert Path(where.strip()).is_relative_to(bin_dir.parent), where  # the wheel, not src/

    listed = _run([bin_dir / "heatmark", "recipes"], empty, {**env, "COLUMNS": "250"})
    for name in recipes.recipe_names():  # every recipe of the checkout is in the wheel
        assert name in listed
    shown = _run([bin_dir / "heatmark", "recipes", "show", "cpu_shipped_300w"], empty, env)
    assert shown == recipes.recipe_text("cpu_shipped_300w")

    load = "from heatmark.train.config import load_config as c; "
    load += "print(c('cpu_300w').name, c('awing_300w.yaml').model.stacks)"
    loaded = _run([python, "-c", load], empty, env)
    assert loaded.split() == ["cpu-300w", "4"]

    faces = tmp_path / "faces"  # the dry run plans; it reads no faces
    faces.mkdir()
    plan = subprocess.run(
        [bin_dir / "heatmark", "reproduce", "--dry-run", "--data", faces],
        cwd=empty,
        env={**env, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "t7-mse-seed0" in plan.stdout and "simple-baselines-wass-s3-div-seed1" in plan.stdout
    assert "heatmark train -c cpu_shipped_300w --set" in plan.stderr  # its first command

    weights = Path(where.strip()).parent / "weights" / SHIPPED_NAME
    _run([python, "-m", "heatmark.models.shipped", weights, empty / "copy"], empty, env)
    copied = (empty / "copy.safetensors").read_bytes()
    assert copied == weights.with_suffix(".safetensors").read_bytes()
    assert f'"recipe": "{SHIPPED_RECIPE}"' in (empty / "copy.json").read_text()
