"""Every command line the manual shows in a shell block parses against the real argument parsers
(``ssm-server``, ``smart-agent``, ``ssmlab``): a renamed verb or option fails here, not for a reader."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.cli import build_parser as agent_parser
from lab.cli import build_parser as lab_parser
from server.cli import build_parser as ssm_parser

ROOT = Path(__file__).resolve().parents[1]
PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "ssm-server": ssm_parser,
    "smart-agent": agent_parser,
    "ssmlab": lab_parser,
}
MANUALS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
_BLOCK = re.compile(r"```(?:sh|bash|console|shell)\n(.*?)```", re.S)
_COMMAND = re.compile(r"^(?:\$ )?(?:[^\s=]*/)?(ssm-server|smart-agent|ssmlab)(?:\s+(.*))?$")
_ASSIGN = re.compile(r'^(\w+)="([^"]*)"$')


def command_lines() -> list[tuple[str, str, str]]:
    """(manual, command, arguments) of every command line in a shell block."""
    found = []
    for manual in MANUALS:
        for block in _BLOCK.findall(manual.read_text()):
            variables: dict[str, str] = {}  # A=".venv/bin/smart-agent --config ...", then "$A status"
            for text in re.sub(r"\\\n\s*", " ", block).splitlines():
                text = re.split(r"\s#\s|\s#$", text)[0].strip()
                if assigned := _ASSIGN.match(text):
                    variables[assigned.group(1)] = assigned.group(2)
                    continue
                for line in re.split(r"\s*(?:;|&&)\s*", text):
                    line = line.removesuffix("&").strip().split(" | ")[0].split(" > ")[0]
                    for name, value in variables.items():
                        line = re.sub(rf"\${name}\b", value, line)
                    line = re.sub(r"\$\([^)]*\)|\$\{?\w+\}?", "X", line)  # a shell value stands for one word
                    if m := _COMMAND.match(line):
                        found.append((manual.name, m.group(1), m.group(2) or ""))
    return found


def test_the_manual_shows_commands() -> None:
    assert len(command_lines()) >= 15  # the scan finds the manual's examples (a broken scan finds none)


@pytest.mark.parametrize(("manual", "command", "args"), command_lines())
def test_each_command_line_parses(manual: str, command: str, args: str) -> None:
    err = io.StringIO()
    status: object = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            PARSERS[command]().parse_args(shlex.split(args))
        except SystemExit as exc:  # argparse's refusal (or --help)
            status = exc.code
    assert not status, f"{manual}: `{command} {args}` does not parse: {err.getvalue().strip()}"
