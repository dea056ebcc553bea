"""Suite-wide settings: reproducible hypothesis runs and no torch state leaking between tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import settings

# Derandomized (the same examples on every run and machine) and without the on-disk example
# database (nothing written into the checkout, no example replayed from an earlier run).
settings.register_profile("heatmark", derandomize=True, database=None, deadline=None)
settings.load_profile("heatmark")


@pytest.fixture(autouse=True)
def _restore_torch_threads() -> Iterator[None]:
    """Undo ``torch.set_num_threads`` of a test (or of the trainer it runs) after it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


SHARED_DATA = Path(__file__).parents[1] / ".." / "shared" / "data"
"""The data folder beside the checkout (../shared/data); never copied into the repository."""


@pytest.fixture(scope="session")
def shared() -> Callable[[str], Path]:
    """``shared(relative)``: the path of ``relative`` under ``SHARED_DATA``; skips the test that
    asks when it is absent."""

    def locate(relative: str) -> Path:
        path = SHARED_DATA / relative
        if not path.exists():
            pytest.skip(f"{path} is absent")
        return path

    return locate
