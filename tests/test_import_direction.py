"""Every import between heatmark's packages points down the pipeline (issue 22).

schemes -> data -> codec -> models -> losses -> export -> predict -> evaluate -> train /
robustness / baselines -> reproduce -> demo -> cli. Inference (predict) sits below evaluation
because evaluation reads its journals and the robustness suite runs its face detectors; it
never imports train, evaluate or robustness. A package may import its own modules and any
package below it, never one above it nor a sibling of its rank (train, robustness and
baselines stay independent of each other). Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "heatmark"

RANK = {
    "errors": 0,
    "recipes": 1,
    "schemes": 1,
    "data": 2,
    "codec": 3,
    "models": 4,
    "losses": 5,
    "export": 6,
    "predict": 7,
    "evaluate": 8,
    "train": 9,
    "robustness": 9,
    "baselines": 9,
    "reproduce": 10,
    "demo": 11,
    "cli": 12,
    "__init__": 12,
}
"""The layer of each top-level module of ``heatmark``: imports go to a lower number."""

ALLOWED_UPWARD = {
    # The packaging command ``python -m heatmark.models.shipped`` writes the shipped ONNX file
    # next to the weights; its loader half is what inference uses (lazy import, no cycle at
    # import time).
    ("models/shipped.py", "export"),
}
"""(file below ``src/heatmark``, imported package) pairs that knowingly point up."""


def _package_of(path: Path) -> str:
    relative = path.relative_to(SOURCE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_packages(tree: ast.AST) -> set[str]:
    """The top-level heatmark modules imported anywhere in ``tree``."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "heatmark":
                found |= {alias.name for alias in node.names if alias.name in RANK}
                continue
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "heatmark" and len(parts) > 1:
                found.add(parts[1])
    return found


def _sources() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def test_every_top_level_module_has_a_rank() -> None:
    tops = {_package_of(path) for path in _sources()}
    assert tops <= set(RANK), f"give these a layer in RANK: {sorted(tops - set(RANK))}"


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(SOURCE)))
def test_imports_point_down_the_pipeline(path: Path) -> None:
    package = _package_of(path)
    relative = path.relative_to(SOURCE).as_posix()
    upward = sorted(
        imported
        for imported in _imported_packages(ast.parse(path.read_text(), str(path)))
        if imported != package
        and imported in RANK
        and RANK[imported] >= RANK[package]
        and (relative, imported) not in ALLOWED_UPWARD
    )
    assert not upward, f"{relative} ({package}) imports {upward}, which are not below it"


def test_the_allowed_exceptions_are_still_needed() -> None:
    for relative, imported in ALLOWED_UPWARD:
        tree = ast.parse((SOURCE / relative).read_text())
        assert imported in _imported_packages(tree), f"drop ({relative}, {imported})"
