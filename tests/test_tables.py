"""The command lines' tables (plumbing.tables, rendered by rich) as a pipe or a test sees them:
plain lines, no colour code, no wrapping, no trailing blank, values printed as they are."""

from __future__ import annotations

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
