"""Replaying an exported journal (``ssmlab journal export``) against a fresh SSM, checking that it
answers the same: the same status, and the same reply fields but those that differ by nature
(generated ids, tokens, keys, what was masked, file paths).

Each request is sent at its recorded domain time (the SSM's clock is moved on to it first; it never
goes back). What cannot be sent again is skipped, with the reason: device requests (signed by the
recorded lab's instance keys, or carrying its masked registration token), bodies cut by the journal,
and secrets the journal masked unless the target's own API client can stand in for them (a bearer
token, the token endpoint's client credentials).
"""

from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from plumbing.clients.lab import LabError, call

MASK = "***"
#: Reply fields whose values a fresh lab mints anew (ids, secrets, where it keeps its files).
VOLATILE = frozenset(
    {
        *("token", "token_id", "piid", "id", "request_id", "nonce", "client_id", "client_secret", "access_token"),
        *("serial_number", "path", "ms", "signature", "certificate", "csr", "public_key", "idToken", "uuid", "anchor"),
    }
)
_GENERATED = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[A-Za-z0-9_\-]{24,}={0,2})$", re.IGNORECASE
)
TOKEN_PATH = "/as/token.oauth2"  # noqa: S105 (a path, not a secret)


@dataclass
class Result:
    seq: int
    method: str
    path: str
    outcome: str  # same | differs | skipped
    details: list[str] = field(default_factory=list)

    def line(self) -> str:
        head = f"#{self.seq} {self.method} {self.path}: {self.outcome}"
        return head + (f": {'; '.join(self.details)}" if self.details else "")


def differences(recorded: Any, replayed: Any, where: str = "reply") -> Iterator[str]:
    """Where two JSON replies differ, leaving out what differs by nature (``VOLATILE``, masked,
    generated-looking strings)."""
    if recorded == MASK or replayed == MASK:
        return
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in sorted(set(recorded) | set(replayed), key=str):
            if key in VOLATILE:
                continue
            if key not in replayed:
                yield f"{where}.{key} missing (was {json.dumps(recorded[key])[:60]})"
            elif key not in recorded:
                yield f"{where}.{key} added ({json.dumps(replayed[key])[:60]})"
            else:
                yield from differences(recorded[key], replayed[key], f"{where}.{key}")
        return
    if isinstance(recorded, list) and isinstance(replayed, list):
        if len(recorded) != len(replayed):
            yield f"{where}: {len(recorded)} items, now {len(replayed)}"
            return
        for i, (a, b) in enumerate(zip(recorded, replayed, strict=True)):
            yield from differences(a, b, f"{where}[{i}]")
        return
    generated = isinstance(recorded, str) and isinstance(replayed, str)
    if generated and _GENERATED.match(recorded) and _GENERATED.match(replayed):
        return
    if recorded != replayed:
        yield f"{where}: {json.dumps(recorded)[:60]} -> {json.dumps(replayed)[:60]}"


def _decode(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class Target:
    """The SSM replayed against: its URL, how to verify it, and its admin API client (optional)."""

    url: str
    cacert: Path | None = None
    client: dict[str, str] | None = None
    _bearer: str | None = None

    def _context(self) -> ssl.SSLContext | None:
        if not self.url.startswith("https"):
            return None
        if self.cacert is not None:
            return ssl.create_default_context(cafile=str(self.cacert))
        ctx = ssl.create_default_context()  # the lab's own SSM on loopback (a TLS drill may break it)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def send(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int | str, Any]:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60, context=self._context()) as resp:
                return resp.status, _decode(resp.read().decode(errors="replace") or None)
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read().decode(errors="replace") or None)
        except (urllib.error.URLError, OSError) as exc:
            return f"no answer ({getattr(exc, 'reason', exc)})", None

    def lab(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return call(self.url + path, method, body, cacert=self.cacert, insecure=self.cacert is None)

    def bearer(self) -> str:
        if self._bearer is None:
            assert self.client is not None
            form = urllib.parse.urlencode({"grant_type": "client_credentials", **self.client}).encode()
            status, reply = self.send("POST", TOKEN_PATH, form, {"Content-Type": "application/x-www-form-urlencoded"})
            if status != 200 or not isinstance(reply, dict):
                raise LabError(f"the target SSM refused the API client given: {reply}", "give its own --api-client")
            self._bearer = str(reply["access_token"])
        return self._bearer


def _request(entry: dict[str, Any], target: Target) -> tuple[bytes | None, dict[str, str]] | str:
    """The body and headers to send again, or why it cannot be sent."""
    if entry.get("kind", "lab") != "lab":
        return "a device request (signed by, or carrying a token of, the recorded lab)"
    req = entry.get("request") or {}
    if req.get("truncated"):
        return f"its body ({req.get('size')} bytes) was cut by the journal"
    headers = {k: v for k, v in (req.get("headers") or {}).items() if k.lower() in ("content-type", "accept")}
    auth = (req.get("headers") or {}).get("Authorization")
    if auth is not None:
        if target.client is None:
            return "it carried an Authorization (masked): give --api-client"
        headers["Authorization"] = f"Bearer {target.bearer()}"
    text: str | None = req.get("body")
    if text is not None and MASK in text:
        if entry["path"] != TOKEN_PATH or target.client is None:
            return "its body held a secret (masked)"
        text = urllib.parse.urlencode({"grant_type": "client_credentials", **target.client})
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return (text.encode() if text is not None else None), headers


def replay(entries: Iterable[dict[str, Any]], target: Target, progress: Callable[[Result], None]) -> list[Result]:
    """Send each entry again at its domain time; the result of each, in order."""
    results: list[Result] = []
    sent = False
    for entry in entries:
        seq, method, path = int(entry.get("seq", len(results) + 1)), str(entry["method"]), str(entry["path"])
        prepared = _request(entry, target)
        if isinstance(prepared, str):
            result = Result(seq, method, path, "skipped", [prepared])
        else:
            at = datetime.fromisoformat(str(entry["at"]))
            now = datetime.fromisoformat(target.lab("GET", "/_lab/clock")["now"])
            if now > at and not sent:
                raise LabError(
                    f"the SSM's clock ({now.isoformat()}) is past the recording's first request ({at.isoformat()})",
                    f"start a fresh SSM at that time: ssm-server run --clock virtual --epoch {at.isoformat()}",
                )
            if now < at:
                target.lab("POST", "/_lab/clock", {"to": at.isoformat()})
            sent = True
            query = f"?{entry['query']}" if entry.get("query") else ""
            status, reply = target.send(method, path + query, *prepared)
            recorded = entry.get("response") or {}
            details = [] if status == entry["status"] else [f"status {entry['status']} -> {status}"]
            if not details and recorded.get("body") is not None and not recorded.get("truncated"):
                # (a reply cut by the journal, or not kept: its status is what is known)
                details = list(differences(_decode(recorded.get("body")), reply))
            result = Result(seq, method, path, "differs" if details else "same", details)
        results.append(result)
        progress(result)
    return results
