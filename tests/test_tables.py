"""The command lines' tables (plumbing.tables, rendered by rich) as a pipe or a test sees them:
plain lines, no colour code, no wrapping, no trailing blank, values printed as they are."""

from __future__ import annotations

import re
import sys

import pytest

from plumbing.cmdline import Column, table


def test_piped_tables_are_plain_aligned_lines() -> None:
    long = "x" * 300
    text = table(
        ("NAME", Column("COUNT", "right"), "NOTE"),
        [("Premium Agent", 130, "[bold]not markup[/bold] :smile:"), ("Dialer Ports", 5, long)],
    )
    lines = text.splitlines()
    assert lines == [
        "NAME           COUNT  NOTE",
        "Premium Agent    130  [bold]not markup[/bold] :smile:",
        f"Dialer Ports       5  {long}",
    ]
    assert "\x1b" not in text


def test_options_gap_indent_and_no_header() -> None:
    text = table(("K", "V"), [("Registration Status:", "Registered"), ("Fix:", "")], header=False, gap=1, indent=2)
    assert text.splitlines() == ["  Registration Status: Registered", "  Fix:"]


def test_no_rows_and_no_header_is_no_text() -> None:
    assert table(("A", "B"), [], header=False) == ""
    assert table(("A", "B"), []) == "A  B"


def test_on_a_terminal_nothing_is_folded_or_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal gets styles, never a value shortened to fit its width."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    long = "a value " * 40
    text = table((Column("PURCHASED", "right"), "NOTE"), [(100, long.strip())])
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert plain.splitlines()[1] == "      100  " + long.strip()
