"""The import rules of DESIGN.md, enforced on the source: dependencies point inward.

- shared/ imports only the standard library, cryptography, defusedxml, jwt, msgspec and structlog; never
  aiohttp, aiosqlite, ssl, socket, sqlite3, subprocess, os or pathlib; and it never reads the
  wall clock (time.time, datetime.now, ...). shared/clock.py alone may use asyncio and time.
- server/ and agent/ never import each other; plumbing/ imports neither; lab/ imports neither
  (it drives both over HTTP and their command lines; it may use plumbing's clients).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "server", "agent", "plumbing", "lab")

SHARED_ALLOWED_THIRD_PARTY = {"cryptography", "defusedxml", "jwt", "msgspec", "structlog"}
SHARED_FORBIDDEN_STDLIB = {
    "asyncio",
    "socket",
    "ssl",
    "sqlite3",
    "subprocess",
    "os",
    "pathlib",
    "shutil",
    "io",
    "time",
    "urllib.request",
    "http",
    "threading",
    "multiprocessing",
    "tempfile",
    "glob",
}
FORBIDDEN_PACKAGE_IMPORTS = {
    "shared": {"server", "agent", "plumbing", "lab", "aiohttp", "aiosqlite"},
    "server": {"agent", "lab"},
    "agent": {"server", "lab"},
    "plumbing": {"server", "agent", "lab"},
    "lab": {"server", "agent"},
}
WALL_CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "time_ns"),
}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def test_every_package_exists() -> None:
    """The required layout is present."""
    for name in ("shared", "server", "agent", "certs", "tests"):
        assert (ROOT / name).is_dir(), name
    for name in ("pyproject.toml", "README.md", "Makefile"):
        assert (ROOT / name).is_file(), name


@pytest.mark.parametrize("package", PACKAGES)
def test_no_forbidden_package_imports(package: str) -> None:
    """Dependencies point inward: server -> shared <- agent; they never import each other."""
    bad = []
    for path in modules(package):
        for name in imports(path):
            if name.split(".")[0] in FORBIDDEN_PACKAGE_IMPORTS[package]:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_shared_imports_only_pure_libraries() -> None:
    """shared/ has no IO: only the stdlib minus IO modules, and a few pure libraries."""
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for path in modules("shared"):
        is_clock = path.name == "clock.py"
        for name in imports(path):
            top = name.split(".")[0]
            if top == "shared" or top == "__future__":
                continue
            if top in stdlib:
                if is_clock and top in {"asyncio", "time"}:
                    continue
                if name in SHARED_FORBIDDEN_STDLIB or top in SHARED_FORBIDDEN_STDLIB:
                    bad.append(f"{path.relative_to(ROOT)} imports {name} (IO)")
            elif top not in SHARED_ALLOWED_THIRD_PARTY:
                bad.append(f"{path.relative_to(ROOT)} imports {name} (not an allowed library)")
    assert not bad, "\n".join(bad)


def test_shared_never_reads_the_wall_clock() -> None:
    """Domain time comes only from the injected Clock; only shared/clock.py reads real time."""
    bad = []
    for path in modules("shared"):
        if path.name == "clock.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
                if (owner_name, node.func.attr) in WALL_CLOCK_CALLS:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {owner_name}.{node.func.attr}()")
    assert not bad, "\n".join(bad)


def sql_strings(path: Path) -> list[str]:
    sql_words = ("CREATE ", "INSERT ", "UPDATE ", "SELECT ", "DELETE ")
    return [
        n.value
        for n in ast.walk(ast.parse(path.read_text()))
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and any(w in n.value.upper() for w in sql_words)
    ]


def test_no_sqlite_wall_clock() -> None:
    """SQLite's own clock is a hidden wall clock; domain time is stored explicitly."""
    clocks = ("CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "'NOW'")
    bad = [
        f"{p.relative_to(ROOT)}: {sql[:60]!r}"
        for pkg in PACKAGES
        for p in modules(pkg)
        for sql in sql_strings(p)
        if any(c in sql.upper() for c in clocks)
    ]
    assert not bad, bad


def test_layering_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself fails on a module that breaks the rules (it is not vacuous)."""
    bad = tmp_path / "bad.py"
    bad.write_text("import socket\nfrom server.app import create_app\nimport datetime\nx = datetime.datetime.now()\n")
    names = imports(bad)
    assert "socket" in names and "server.app" in names
    tree = ast.parse(bad.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)]
    assert any(c.func.attr == "now" for c in calls)


def test_modules_stay_small() -> None:
    """One concept per module: none outside the tests grows past about 500 lines."""
    limit = 520
    big = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for pkg in (*PACKAGES, "bench")
        for path in modules(pkg)
        if (n := len(path.read_text().splitlines())) > limit
    ]
    assert not big, big
