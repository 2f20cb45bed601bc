"""The lab token of a process whose lab plane is exposed beyond loopback (``--lab-exposed``):
minted at start, printed once, written 0600 beside the process's data so that the command lines
on the same machine send it (``Authorization: Bearer``); ``$SSMLAB_LAB_TOKEN`` overrides."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

FILE = "lab.token"
ENV = "SSMLAB_LAB_TOKEN"


def mint(folder: Path) -> str:
    """A new token, written to ``folder/lab.token`` (0600, replacing the last one)."""
    token = secrets.token_urlsafe(32)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def forget(folder: Path) -> None:
    """Remove the token file (the process runs unexposed: no token is valid)."""
    (folder / FILE).unlink(missing_ok=True)


def find(folder: Path | None = None) -> str | None:
    """The token a client sends: ``$SSMLAB_LAB_TOKEN``, else ``folder/lab.token`` if it exists."""
    if os.environ.get(ENV):
        return os.environ[ENV].strip()
    if folder is None:
        return None
    try:
        return (folder / FILE).read_text().strip() or None
    except OSError:
        return None


def header(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
