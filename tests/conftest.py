"""Suite-wide settings: reproducible hypothesis runs and no torch state leaking between tests."""

from __future__ import annotations

from collections.abc import Iterator

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
