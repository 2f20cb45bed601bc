"""A small synchronous client of a process's lab plane (``/_lab/...``), for the command lines."""

from __future__ import annotations

import http.client
import json
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path
from typing import Any

from plumbing import labtoken


class LabError(Exception):
    def __init__(self, message: str, fix: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message, self.fix, self.code = message, fix, code


#: The lab operator's client certificate (certificate, chain and key in one file, mode 0600), which
#: the SSM writes beside its database while a TLS drill demands client certificates: the lab's own
#: clients present it to keep reaching the lab plane (``ssm-server tls set good`` must still work).
CLIENT_CERT_FILE = "lab-client.pem"


def lab_plane_context(client_cert: Path | None = None) -> ssl.SSLContext:
    """A client context for the lab plane of an SSM whose TLS drill breaks its TLS on purpose: no
    verification, TLS 1.0 upwards at OpenSSL security level 0 (the tls1.0-only, weak-key and
    sha1-signature drills), and the lab operator's certificate when the SSM wrote one."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():  # ssl.TLSVersion.TLSv1 is deprecated: a drill serves it
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    if client_cert is not None and client_cert.exists():
        ctx.load_cert_chain(client_cert)
    return ctx


def _context(url: str, cacert: Path | None, insecure: bool, client_cert: Path | None = None) -> ssl.SSLContext | None:
    if not url.startswith("https"):
        return None
    if insecure:
        return lab_plane_context(client_cert)
    return ssl.create_default_context(cafile=str(cacert)) if cacert else None


def _error(status: int, data: bytes) -> LabError:
    try:
        err = json.loads(data or b"{}")
    except ValueError:
        err = {}
    if not isinstance(err, dict):
        err = {}
    # ssmlab's errors say "message"; the admin API's Cisco envelope "statusMessage"; OAuth2's
    # "error_description".
    message = err.get("message") or err.get("statusMessage") or err.get("error_description") or f"HTTP {status}"
    return LabError(str(message), err.get("fix", ""), err.get("error", ""))


def _unreachable(url: str, exc: BaseException) -> LabError:
    return LabError(
        f"cannot reach {url}: {getattr(exc, 'reason', exc)}",
        "start the process, or pass --url (and --cacert for https)",
        "unreachable",
    )


def call(
    url: str,
    method: str = "GET",
    body: dict[str, Any] | None = None,
    *,
    cacert: Path | None = None,
    insecure: bool = False,
    timeout: float = 600.0,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    client_cert: Path | None = None,
) -> Any:
    """One JSON request; errors become ``LabError`` with the server's message and fix.

    ``insecure`` skips certificate verification: only for the lab plane of an SSM whose TLS
    drill breaks its certificate on purpose (``ssm-server tls``). ``token``: the lab token of a
    process started with ``--lab-exposed`` (``$SSMLAB_LAB_TOKEN`` when not given). ``client_cert``:
    the lab operator's certificate file, presented when it exists (``CLIENT_CERT_FILE``)."""
    req = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", **labtoken.header(token or labtoken.find()), **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_context(url, cacert, insecure, client_cert)) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise _error(exc.code, exc.read()) from None
    except (urllib.error.URLError, OSError) as exc:
        raise _unreachable(url, exc) from None


class Session:
    """Many calls in a row to one process over one kept-alive connection (the clock lockstep
    makes thousands: a TLS handshake each would be most of its time)."""

    def __init__(
        self,
        base: str,
        *,
        cacert: Path | None = None,
        insecure: bool = False,
        timeout: float = 600.0,
        token: str | None = None,
        client_cert: Path | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self._headers = {"Content-Type": "application/json", **labtoken.header(token or labtoken.find())}
        parts = urllib.parse.urlsplit(self.base)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._ctx = _context(self.base, cacert, insecure, client_cert)
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._ctx)
        else:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):  # a kept-alive connection the server closed meanwhile: once more
            conn = self._conn or self._connect()
            try:
                conn.request(method, path, body=data, headers=self._headers)
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.HTTPException, OSError) as exc:
                self.close()
                stale = isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError))
                if attempt == 1 and stale:
                    continue
                raise _unreachable(self.base + path, exc) from None
            if resp.status >= 400:
                raise _error(resp.status, payload)
            return json.loads(payload or b"null")
        raise AssertionError("unreachable")  # pragma: no cover


def clock_command(
    base: str, verb: str, value: str | None, *, cacert: Path | None = None, token: str | None = None
) -> int:
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
        view = call(base.rstrip("/") + "/_lab/clock", "POST" if body else "GET", body, cacert=cacert, token=token)
    except LabError as exc:
        print(f"clock: {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return 1
    print(f"now {view['now']}  ({view['kind']} clock, rate {view['rate']:g})")
    if view.get("next_deadline"):
        print(f"next timer {view['next_deadline']}")
    return 0
