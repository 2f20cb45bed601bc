"""The three command lines as declared: every verb has its handler, and every ``ssm-server``,
``smart-agent`` and ``ssmlab`` command line the manual (README.md, docs/) shows in a code block parses with the real
parser (nothing runs: only argparse).

Shell variables the README defines in its blocks (``A=".venv/bin/smart-agent --config ..."``) are
expanded; a command substitution ``"$(...)"`` is parsed as a command of its own and stands for one
argument. Lines using a variable the README never defines are skipped, and listed in ``SKIPPED``
so that the skip is visible and a new one fails until it is looked at.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.cli import build_parser as agent_parser
from lab.cli import build_parser as lab_parser
from server.cli import build_parser as server_parser

ROOT = Path(__file__).resolve().parent.parent
#: The manual: the README and the pages of docs/ (each page's shell variables are its own).
MANUALS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "ssm-server": server_parser,
    "smart-agent": agent_parser,
    "ssmlab": lab_parser,
}
#: README lines skipped because they use a shell variable the README never sets ($TOKEN: the
#: admin API's bearer token, or a registration token the reader pastes; $EPOCH and $ANCHOR: the
#: instant the Locust run starts, set by command substitution in docs/scale-out.md).
SKIPPED = {
    '$A register "$TOKEN"         # fails: Registration failed (tls_cert_expired): ... fix: ...',
    'ssm-server run --port-file var/port --clock scaled --rate 9000 --epoch "$EPOCH" --anchor "$ANCHOR" &',
}
SEPARATORS = {";", "&&", "||", "&", "|"}
REDIRECTIONS = {">", ">>", "<", "2>"}


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path
        return
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


@pytest.mark.parametrize("program", sorted(PARSERS))
def test_every_verb_sets_its_handler(program: str) -> None:
    """Dispatch is declared with the verb: each leaf parser sets ``func`` (no lookup by name)."""
    parser = PARSERS[program]()
    leaves = list(_leaves(parser))
    assert len(leaves) > 10
    for path in leaves:
        sub: argparse.ArgumentParser = parser
        for name in path:
            action = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction))
            sub = action.choices[name]
        assert callable(sub.get_default("func")), f"{program} {' '.join(path)} has no handler"


def _sh_lines(text: str) -> Iterator[str]:
    """The logical lines of the README's ``sh`` code blocks (continuations joined, heredocs left out)."""
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        lines = iter(block.replace("\\\n", " ").splitlines())
        for line in lines:
            while not _balanced(line):  # a quoted argument that goes on over several lines
                line += "\n" + next(lines)
            yield line
            heredoc = re.search(r"<<'?(\w+)'?", line)
            if heredoc:
                for body in lines:
                    if body.strip() == heredoc.group(1):
                        break


def _balanced(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return False
    return True


def _commands(line: str, variables: dict[str, str]) -> list[list[str]] | None:
    """The commands of one line, as argv lists; None when it uses an unknown variable."""
    inner: list[list[str]] = []

    def substitute(found: re.Match[str]) -> str:
        inner.extend(_commands(found.group(1), variables) or [])
        return "SUBSTITUTED"

    line = re.sub(r"\$\(([^()]*)\)", substitute, line)
    names = re.findall(r"\$(\w+)", line)
    if any(name not in variables for name in names):
        return None
    line = re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    tokens = iter(lexer)
    for token in tokens:
        if token in SEPARATORS:
            commands.append([])
        elif token in REDIRECTIONS:
            next(tokens, None)
        else:
            commands[-1].append(token)
    return [c for c in commands if c] + inner


def readme_commands() -> tuple[list[tuple[str, list[str]]], set[str]]:
    """(the line, argv) of every command of the three programs in the manual; the lines skipped."""
    found: list[tuple[str, list[str]]] = []
    skipped: set[str] = set()
    for manual in MANUALS:
        f, s = _manual_commands(manual.read_text())
        found += f
        skipped |= s
    return found, skipped


def _manual_commands(text: str) -> tuple[list[tuple[str, list[str]]], set[str]]:
    variables: dict[str, str] = {}
    found: list[tuple[str, list[str]]] = []
    skipped: set[str] = set()
    for line in _sh_lines(text):
        assignment = re.fullmatch(r'(\w+)="([^"]*)"', line.strip())
        if assignment:
            variables[assignment.group(1)] = assignment.group(2)
            continue
        commands = _commands(line, variables)
        if commands is None:
            known = re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), ""), line)
            if re.search(r"(^|[\s/\"(])(ssm-server|smart-agent|ssmlab)(\s|$)", known):  # not curl, keytool...
                skipped.add(line.strip())
            continue
        for argv in commands:
            if Path(argv[0]).name in PARSERS:
                found.append((line.strip(), argv))
    return found, skipped


def test_the_readme_command_lines_parse() -> None:
    commands, skipped = readme_commands()
    assert skipped == SKIPPED
    programs = {Path(argv[0]).name for _, argv in commands}
    assert programs == set(PARSERS) and len(commands) > 40
    refused = []
    for line, argv in commands:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                args = PARSERS[Path(argv[0]).name]().parse_args(argv[1:])
        except SystemExit:
            refused.append(f"{line}\n    {shlex.join(argv)}\n    {err.getvalue().strip()}")
            continue
        assert callable(args.func), line
    assert not refused, "\n".join(refused)


def test_the_extraction_sees_what_a_shell_would() -> None:
    """Variables, substitutions, separators, redirections and comments as the shell reads them."""
    variables = {"A": ".venv/bin/smart-agent --config var/lab/agent.toml"}
    line = '$A register "$(.venv/bin/ssm-server token create --va DEFAULT -q)"; $A usage show > out.txt  # note'
    assert _commands(line, variables) == [
        [".venv/bin/smart-agent", "--config", "var/lab/agent.toml", "register", "SUBSTITUTED"],
        [".venv/bin/smart-agent", "--config", "var/lab/agent.toml", "usage", "show"],
        [".venv/bin/ssm-server", "token", "create", "--va", "DEFAULT", "-q"],
    ]
    assert _commands('$A register "$TOKEN"', variables) is None
