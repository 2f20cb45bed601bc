"""The installed console scripts as a user runs them, for the end-to-end tests: where they are,
``ssm-server run`` on a free port (or as told: ``run_ssm``), waiting for a file a process writes,
stopping with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def cli(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed in this environment (run 'make test')")
    return str(path)


def wait_for_file(path: Path, proc: subprocess.Popen[str], timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if proc.poll() is not None:
            raise AssertionError(f"process exited early: {proc.communicate()[1]}")
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, wait, and return what the process wrote to stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err or ""


def start_ssm() -> subprocess.Popen[str]:
    """``ssm-server run`` on a free port (written to ssm.port), database var/ssm.db, certs/."""
    return subprocess.Popen(
        [cli("ssm-server"), "run", "--listen", "127.0.0.1:0", "--port-file", "ssm.port", "--db", "var/ssm.db",
         "--certs", "certs", "--log-format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def run_ssm(procs: list[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    """``ssm-server run ARGS``, added to ``procs`` (the caller stops them all)."""
    p = subprocess.Popen([cli("ssm-server"), "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(p)
    return p
