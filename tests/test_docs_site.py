"""The manual builds as a site (``make docs``) in strict mode: every page is in the navigation and
every link between pages, and every anchor it names, exists."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_manual_builds_strict(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.fail("mkdocs is missing: 'make test' installs the dev dependencies (pyproject.toml [dev])")
    done = subprocess.run(
        [str(mkdocs if mkdocs.exists() else "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    built = {p.parent.name + ".md" for p in (tmp_path / "site").glob("*/index.html")}
    assert pages - {"index.md"} <= built, f"pages not built: {pages - {'index.md'} - built}"
