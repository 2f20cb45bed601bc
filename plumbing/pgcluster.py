"""A throwaway PostgreSQL cluster: Debian's ``postgresql`` binaries, ``initdb`` in a fresh
temporary folder, a server on a free loopback port; stopped and its folder removed at the end.

The test session (``tests/conftest.py``) and ``make cluster`` (``bench.cluster``) start one. Run as
root, the cluster belongs to the ``postgres`` user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Where Debian puts each major version's programs.
DEBIAN_LIB = Path("/usr/lib/postgresql")


class Unavailable(RuntimeError):
    """No PostgreSQL programs on this machine (install Debian's ``postgresql`` package)."""


def bin_dir() -> Path:
    """The newest installed version's ``bin`` folder (or the folder of ``pg_ctl`` on PATH)."""
    versions = sorted(
        (p for p in DEBIAN_LIB.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    found = shutil.which("pg_ctl")
    if found and (Path(found).parent / "initdb").exists():
        return Path(found).parent
    raise Unavailable("PostgreSQL is not installed: apt-get install postgresql (Debian) puts it in /usr/lib/postgresql")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Cluster:
    """A running cluster: its port and the superuser's connection URL of a database."""

    folder: Path
    port: int
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str]) -> None:
    done = subprocess.run(_as_owner(argv), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")


@contextmanager
def running(*, durable: bool = True) -> Iterator[Cluster]:
    """``initdb`` in a new temporary folder, start on a free port, yield, stop and remove (even on
    failure). The folder is the system's temporary one's: run as root, ``postgres`` must reach it.

    ``durable=False`` turns fsync off: a test cluster loses nothing it needs on a crash."""
    bins = bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="ssmlab-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, sockets = folder / "data", folder / "sock"
    sockets.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(sockets, "postgres", "postgres")
    # No locale: text sorts by bytes, as SQLite's does; trust on loopback: a throwaway cluster.
    port = free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    try:
        _run([str(bins / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8"])
        _run([str(bins / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "server.log"), "-w", "start"])
        try:
            yield Cluster(folder, port)
        finally:
            _run([str(bins / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
