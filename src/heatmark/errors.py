"""Errors that reach the user: each names the file (and line) or config key at fault."""

from __future__ import annotations

from pathlib import Path


class HeatmarkError(Exception):
    """Base class; the CLI prints the message and exits with status 1 instead of a traceback."""


class DataError(HeatmarkError):
    """Malformed or missing input data. The message starts with ``path[:line]``."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")


class ConfigError(HeatmarkError):
    """A bad configuration value; the message names the key."""
