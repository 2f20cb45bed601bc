"""What the three command lines (``ssm-server``, ``smart-agent``, ``ssmlab``) share: parent parsers
of one option, JSON output, and tables rendered by rich.

``table``: columns and rows in, text out; the caller prints it. On a terminal rich styles the
header; into a pipe or a file there is no colour code. Either way no row is wrapped, folded or
cut (a very wide console) and no line has trailing blanks, so scripts and tests see one plain
line per row. A value is never read as rich markup or an emoji code: ``[warning]`` and ``:x:``
print as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.table import Table


def option(*flags: str, **spec: Any) -> argparse.ArgumentParser:
    """A parent parser holding one option, for the verbs that share it (``parents=[...]``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(*flags, **spec)
    return parser


def print_json(obj: object) -> None:
    """``--json`` output: scripts parse it, so its form never changes (2-space indent)."""
    print(json.dumps(obj, indent=2))


#: Wider than any line of a listing: rich never wraps or cuts one.
WIDE = 10_000


@dataclass(frozen=True)
class Column:
    header: str = ""
    justify: Literal["left", "right"] = "left"


def _console() -> Console:
    # As wide as any line: a value is never folded or cut to fit a terminal (a long line wraps
    # there as it always did); colour only on a terminal.
    if sys.stdout.isatty():
        return Console(width=WIDE, highlight=False, markup=False, emoji=False)
    return Console(width=WIDE, no_color=True, color_system=None, highlight=False, markup=False, emoji=False)


def table(
    columns: Sequence[Column | str],
    rows: Iterable[Sequence[object]],
    *,
    header: bool = True,
    gap: int = 2,
    indent: int = 0,
) -> str:
    """The rows under their columns, ``gap`` spaces apart, each line ``indent`` spaces in.

    ``header=False`` prints no header line (the column names then only document the call)."""
    grid = Table(
        box=None,
        show_header=header,
        show_edge=False,
        pad_edge=False,
        padding=(0, gap),
        collapse_padding=True,
        header_style="bold" if sys.stdout.isatty() else None,
    )
    for col in columns:
        spec = col if isinstance(col, Column) else Column(col)
        grid.add_column(spec.header, justify=spec.justify)
    for row in rows:
        grid.add_row(*(str(cell) for cell in row))
    console = _console()
    with console.capture() as captured:
        console.print(grid)
    pad = " " * indent
    return "\n".join(pad + line.rstrip() for line in captured.get().splitlines())


#: What a command line reports in one line rather than a traceback: a path that cannot be used.
FILE_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError)


def file_error(prog: str, exc: OSError) -> int:
    """Print a file error as one line and its fix (never a traceback); the exit status 2."""
    where = f" {exc.filename}" if exc.filename else ""
    print(f"{prog}: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
    fixes = {
        FileNotFoundError: "check the path (relative paths start from the current folder)",
        IsADirectoryError: "name a file, not a folder",
        NotADirectoryError: "check each folder of the path",
        PermissionError: "check the file's permissions, or run as its owner",
        FileExistsError: "remove it first, or choose another path",
    }
    print(f"  fix: {next((f for t, f in fixes.items() if isinstance(exc, t)), 'check the path')}", file=sys.stderr)
    return 2
