"""The benchmark still runs end to end (tiny sizes): it checks that it works, never its speed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_bench_smoke_runs_every_figure() -> None:
    """`python -m bench --smoke` exits 0 and prints a row for every figure."""
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but wrk is missing: 'make test' installs it when run as root")
        pytest.skip("no wrk here: install Debian's wrk (make test does it when run as root)")
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    for label in (
        "wrk: SSM usage reports/s",
        "wrk: SSM server CPU per report",
        "server CPU per report, SSM / reference (b)",
        "usage reports/s",
        "reference (a)",
        "reference (b)",
        "registrations/s",
        "license summary",
        "device page",
        "resident memory",
        "365 virtual days",
        "fleet memory",
        "network cut",
    ):
        assert label in out.stdout, label
