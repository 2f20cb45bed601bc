"""The IO of one delivery attempt: an e-mail through the SMTP server (aiosmtplib; STARTTLS when the
server offers it), a webhook call through aiohttp's client. Each answers an ``Outcome``; neither
raises for a peer that is down or refuses."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import aiosmtplib

#: Real seconds one attempt may take (a peer that hangs is a failed attempt, retried later).
TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class Smtp:
    """``--smtp HOST:PORT`` and ``--smtp-from``."""

    host: str
    port: int
    sender: str


def outbound_tls(certs: Path) -> ssl.SSLContext:
    """What an outbound TLS peer (STARTTLS, an https webhook) is verified against: the system's
    roots and the lab root CA (the lab's mail catcher and receivers use the lab PKI)."""
    ctx = ssl.create_default_context()
    ca = certs / "ca.pem"
    if ca.exists():
        ctx.load_verify_locations(cafile=str(ca))
    return ctx


async def send_mail(smtp: Smtp, msg: EmailMessage, tls: ssl.SSLContext) -> Outcome:
    try:
        refused, _ = await aiosmtplib.send(
            msg,
            sender=smtp.sender,
            hostname=smtp.host,
            port=smtp.port,
            start_tls=None,  # STARTTLS when the server offers it
            tls_context=tls,
            timeout=TIMEOUT,
        )
    except aiosmtplib.SMTPResponseException as exc:
        return Outcome(False, exc.code, f"SMTP {exc.code}: {exc.message}"[:500])
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])
    bad = {addr: r for addr, r in refused.items() if r.code >= 400}
    error = "; ".join(f"{addr} refused: {r.code} {r.message}" for addr, r in bad.items())
    return Outcome(True, 250, error[:500])


async def post_webhook(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    try:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
            await resp.read()
            if 200 <= resp.status < 300:
                return Outcome(True, resp.status)
            return Outcome(False, resp.status, f"HTTP {resp.status} {resp.reason or ''}".strip())
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500])
