"""Where ``--db`` points: a SQLite file (a ``Path``) or a PostgreSQL database (a ``PgUrl``).

Either has a ``parent``: the local folder beside the database where an ``ssm-server`` keeps its
own files (the lab token, snapshots, a drill's client certificate). For PostgreSQL that is
``var/ssm`` (or ``$SSMLAB_STATE``): several servers on several machines share the database, each
keeps its files on its own machine.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STATE = "var/ssm"


class PgUrl(str):
    """A ``postgresql://USER@HOST[:PORT]/DB`` URL (libpq's: ``?options=...`` and all), with the local
    folder of this server's own files (default ``$SSMLAB_STATE`` or ``var/ssm``)."""

    state: Path

    def __new__(cls, url: str, state: Path | None = None) -> PgUrl:
        self = super().__new__(cls, url)
        self.state = state or Path(os.environ.get("SSMLAB_STATE", DEFAULT_STATE))
        return self

    @property
    def parent(self) -> Path:
        return self.state


def redacted(db: object) -> str:
    """``--db`` as logs and status pages may show it: a URL's password is ``***``."""
    text = str(db)
    head, sep, tail = text.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return text
    return head.rsplit(":", 1)[0] + ":***@" + tail


def db_location(value: str) -> Path | PgUrl:
    """The ``--db`` option's type."""
    return PgUrl(value) if value.startswith(("postgresql://", "postgres://")) else Path(value)
