"""The lab launcher as the tests drive it: a free port, a closed port, the ssmlab command line."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ssmlab(folder: Path, certs: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lab", "--dir", str(folder), "--certs", str(certs), *args]


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0
