"""A small synchronous client of a process's lab plane (``/_lab/...``), for the command lines."""

from __future__ import annotations

import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class LabError(Exception):
    def __init__(self, message: str, fix: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message, self.fix, self.code = message, fix, code


def call(
    url: str,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    *,
    cacert: Path | None = None,
    insecure: bool = False,
    timeout: float = 600.0,
) -> Any:
    """One JSON request; errors become ``LabError`` with the server's message and fix.

    ``insecure`` skips certificate verification: only for the lab plane of an SSM whose TLS
    drill breaks its certificate on purpose (``ssm-server tls``)."""
    ctx = ssl.create_default_context(cafile=str(cacert)) if url.startswith("https") and cacert else None
    if insecure and url.startswith("https"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            err = json.loads(exc.read() or b"{}")
        except ValueError:
            err = {}
        raise LabError(err.get("message", f"HTTP {exc.code}"), err.get("fix", ""), err.get("error", "")) from None
    except (urllib.error.URLError, OSError) as exc:
        raise LabError(
            f"cannot reach {url}: {getattr(exc, 'reason', exc)}",
            "start the process, or pass --url (and --cacert for https)",
            "unreachable",
        ) from None


def clock_command(base: str, verb: str, value: str | None, *, cacert: Path | None = None) -> int:
    """``clock show | advance DURATION | rate R`` against a running process; prints the clock."""
    body: dict[str, Any] | None = None
    if verb == "advance":
        body = {"advance": value}
    elif verb == "rate":
        try:
            body = {"rate": float(value or "")}
        except ValueError:
            print(f"clock: rate must be a number, got {value!r}", file=sys.stderr)
            return 2
    try:
        view = call(base.rstrip("/") + "/_lab/clock", "POST" if body else "GET", body, cacert=cacert)
    except LabError as exc:
        print(f"clock: {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return 1
    print(f"now {view['now']}  ({view['kind']} clock, rate {view['rate']:g})")
    if view.get("next_deadline"):
        print(f"next timer {view['next_deadline']}")
    return 0
