"""Every command's --help, rendered at 80 columns, re-flows its paragraphs and loses no words.

Docstrings and option helps are hard-wrapped in the source; the help renderer must join those
lines into paragraphs and wrap them again at the terminal's width. Two checks on each rendered
help: a wrapped line never stops while the next word would still have fitted (the sign of a
source line break kept as it is, "cropped from / their ground-truth boxes"), and every word of
the command's help and of its options' helps is shown (rich markup would eat "[default: ...]",
markdown would eat "<protocol>").
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from heatmark.cli import app

WIDTH = 80
PANEL_EDGES = "╭╰"
BORDER = "│"


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, command) for the root and every command and sub-command below it."""
    yield path, group
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group: its own help, then its commands
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


ROOT = typer.main.get_command(app)
COMMANDS = list(_commands(ROOT))


def _render(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(
        app, [*path, "--help"], terminal_width=WIDTH, env={"COLUMNS": str(WIDTH)}
    )
    assert result.exit_code == 0, result.output
    return result.output


def _first_word(line: str) -> str:
    return line.split()[0]


def _starts_block(line: str) -> bool:
    """A line that begins a new block on purpose: a list item, a default, a requirement."""
    return bool(re.match(r"\s*([-*•]\s|\d+[.)]\s|\[default:|\[required\])", line))


def _breaks(lines: list[str], width: int) -> list[str]:
    """Pairs of consecutive lines of one paragraph where the next line's first word would have
    fitted at the end of the line: greedy wrapping never does that."""
    found = []
    for line, following in itertools.pairwise(lines):
        if not line.strip() or not following.strip() or _starts_block(following):
            continue
        if len(line.rstrip()) + 1 + len(_first_word(following)) <= width:
            found.append(f"{line.rstrip()!r} / {following.strip()!r}")
    return found


def _description(output: str) -> list[str]:
    """The help text between the usage line and the first panel, without its left margin."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    body = []
    for line in lines[start:]:
        if line.strip().startswith(tuple(PANEL_EDGES)):
            break
        body.append(line[1:].rstrip() if line.startswith(" ") else line.rstrip())
    return body


def _commands_panel(output: str) -> tuple[list[str], int]:
    """The help column of the Commands panel, one entry per rendered line ('' where a new
    command starts, so that two commands never count as one paragraph), and its width."""
    lines = output.splitlines()
    top = next((i for i, line in enumerate(lines) if line.strip().startswith("╭─ Commands")), None)
    if top is None:
        return [], WIDTH
    rows = []
    for line in lines[top + 1 :]:
        if line.strip().startswith("╰"):
            break
        rows.append(line.strip()[1:-1])  # inside the two borders
    first = rows[0]
    column = re.match(r"\s*\S+\s+", first).end()
    width = len(first) - 1  # less the panel's right padding
    cells = []
    for row in rows:
        if row[:column].strip():  # a new command's name: a new paragraph
            cells.append("")
        cells.append(row[column:].rstrip())
    return cells, width - column


def _words(text: str) -> list[str]:
    """Words as the reader should see them: source markup (backticks) removed."""
    return [word for word in text.replace("`", "").split() if word]


def _shown_words(output: str) -> set[str]:
    return set(_words(output.replace(BORDER, " ")))


@pytest.mark.parametrize(
    "path", [path for path, _ in COMMANDS], ids=lambda path: " ".join(path) or "heatmark"
)
def test_help_reflows_at_80_columns(path: tuple[str, ...]) -> None:
    output = _render(path)
    assert max(len(line) for line in output.splitlines()) <= WIDTH
    breaks = _breaks(_description(output), WIDTH - 2)
    cells, width = _commands_panel(output)
    breaks += _breaks(cells, width)
    assert not breaks, "help lines broken mid-sentence:\n" + "\n".join(breaks)


@pytest.mark.parametrize(
    "path,command", COMMANDS, ids=lambda value: " ".join(value) if isinstance(value, tuple) else ""
)
def test_help_shows_every_word(path: tuple[str, ...], command: Any) -> None:
    shown = _shown_words(_render(path))
    texts = [inspect.cleandoc(command.help or "").partition("\f")[0]]
    texts += [param.help for param in command.params if getattr(param, "help", None)]
    missing = [word for text in texts for word in _words(text) if word not in shown]
    assert not missing, f"words of the help not shown: {missing}"


def test_the_check_catches_a_kept_line_break() -> None:
    """The mid-sentence check fails on a paragraph printed with its source line breaks."""
    kept = ["Either way the same tables. With --checkpoint, faces are cropped from", "their boxes"]
    reflowed = [
        "Either way the same tables. With --checkpoint, faces are cropped from their",
        "boxes",
    ]
    assert _breaks(kept, WIDTH - 2)
    assert not _breaks(reflowed, WIDTH - 2)
