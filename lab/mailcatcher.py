"""The lab's mail catcher: a real SMTP server (aiosmtpd) on loopback that keeps every e-mail it
receives in a Maildir, where the lab console reads them (its Mail page).

``python -m lab.mailcatcher --listen 127.0.0.1:0 --maildir var/lab/mail --certs certs
--port-file var/lab/mail.port``: with ``--certs`` it offers STARTTLS with the lab PKI's server
certificate (``--require-starttls`` refuses mail before it). ``ssmlab run/up`` starts it and passes
its port to ``ssm-server run --smtp``. Each kept message gets a ``Received:`` header naming the
protocol (ESMTPS when the session was under TLS, RFC 3848), so the page can show how it came.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import signal
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

HOSTNAME = "ssmlab-catcher"
#: The header the catcher adds to each message it keeps.
RECEIVED = "Received"


@dataclass(frozen=True, slots=True)
class Mail:
    """One caught e-mail, as the console lists it."""

    key: str
    sender: str
    to: str
    subject: str
    date: str
    received: str
    tls: bool
    body: str
    headers: dict[str, str]


def _tls(msg: EmailMessage) -> bool:
    return " with ESMTPS" in str(msg.get(RECEIVED, ""))


def read_mail(key: str, raw: bytes) -> Mail:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain",))
    body = part.get_content() if part is not None else ""
    received = str(msg.get(RECEIVED, ""))
    stamp = received.rpartition(";")[2].strip()
    return Mail(
        key=key,
        sender=str(msg.get("From", "")),
        to=str(msg.get("To", "")),
        subject=str(msg.get("Subject", "")),
        date=str(msg.get("Date", "")),
        received=stamp,
        tls=_tls(msg),
        body=str(body),
        headers={k: str(v) for k, v in msg.items() if k.startswith("X-SSMlab")},
    )


def caught(maildir: Path, *, limit: int = 200) -> list[Mail]:
    """The caught e-mails in ``maildir``, the latest received first."""
    if not (maildir / "new").is_dir():
        return []
    box = mailbox.Maildir(maildir, create=False)
    mails = [read_mail(key, box.get_bytes(key)) for key in box.iterkeys()]

    def when(m: Mail) -> float:
        try:
            return parsedate_to_datetime(m.received).timestamp()
        except (TypeError, ValueError):
            return 0.0

    mails.sort(key=lambda m: (when(m), m.key), reverse=True)
    return mails[:limit]


class Handler:
    """aiosmtpd's handler: keep each message (in memory, and in the Maildir when given)."""

    def __init__(self, maildir: Path | None) -> None:
        self.box = mailbox.Maildir(maildir, create=True) if maildir is not None else None
        self.mails: list[Mail] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        proto = "ESMTPS" if session.ssl is not None else "ESMTP"
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        stamp = format_datetime(datetime.now(UTC))  # real time, as a mail server stamps it
        head = f"{RECEIVED}: from {session.host_name or 'unknown'} ([{peer}]) by {HOSTNAME} with {proto}; {stamp}\r\n"
        content = envelope.original_content or envelope.content or b""
        raw = head.encode() + (content if isinstance(content, bytes) else content.encode())
        key = self.box.add(raw) if self.box is not None else str(len(self.mails))
        self.mails.append(read_mail(key, raw))
        self.arrived.set()
        return "250 Message accepted for delivery"


def server_tls(certs: Path) -> ssl.SSLContext:
    """STARTTLS with the lab PKI's server certificate (the chain) and key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    return ctx


async def start(
    handler: Handler, host: str, port: int, *, tls: ssl.SSLContext | None, require_starttls: bool = False
) -> tuple[asyncio.Server, int]:
    """Serve SMTP on ``host:port`` (0: any free port) in the running loop; the server and its port."""
    loop = asyncio.get_running_loop()

    def protocol() -> Any:
        return SMTP(handler, hostname=HOSTNAME, tls_context=tls, require_starttls=require_starttls)

    server = await loop.create_server(protocol, host, port)
    bound: int = server.sockets[0].getsockname()[1]
    return server, bound


async def _serve(args: argparse.Namespace) -> None:
    handler = Handler(args.maildir)
    tls = server_tls(args.certs) if args.certs else None
    host, _, port = args.listen.rpartition(":")
    server, bound = await start(
        handler, host or "127.0.0.1", int(port), tls=tls, require_starttls=args.require_starttls
    )
    if args.port_file:
        args.port_file.write_text(str(bound))
    print(f"mail catcher: SMTP on {host}:{bound} (STARTTLS {'offered' if tls else 'off'}), mail in {args.maildir}")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lab.mailcatcher", description="the lab's SMTP mail catcher")
    p.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0: any free port)")
    p.add_argument("--maildir", type=Path, required=True, help="where the caught e-mails are kept (a Maildir)")
    p.add_argument("--certs", type=Path, help="the lab PKI: offer STARTTLS with its server certificate")
    p.add_argument("--require-starttls", action="store_true", help="refuse mail before STARTTLS")
    p.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    args = p.parse_args(argv)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
