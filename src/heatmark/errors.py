"""Errors that reach the user: each names the file (and line) or config key at fault."""

from __future__ import annotations

from pathlib import Path


class HeatmarkError(Exception):
    """Base class; the CLI prints the message and exits with status 1 instead of a traceback.

    Subclasses must stay picklable (a ``DataError`` raised in a DataLoader worker travels to the
    main process as data, see ``heatmark.data.dataset.ErrorCarryingLoader``).
    """


class DataError(HeatmarkError):
    """Malformed or missing input data. The message starts with ``path[:line]``."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = message
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple:
        """Pickle with the constructor's arguments (the default passes only the message)."""
        return type(self), (self.path, self.reason, self.line)


class ConfigError(HeatmarkError):
    """A bad configuration value; the message names the key."""
