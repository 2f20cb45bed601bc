"""The two references the report figure is compared with, in bare aiohttp over the same TLS:

(a) ``ceiling``: answers a small JSON to any POST — the stack's ceiling;
(b) ``floor``: the irreducible work of a usage report and nothing else (on the loop ssm-server
    runs on: uvloop when installed) — parse, verify the
    request signature (the signer's key looked up in memory), one durable insert (SQLite WAL,
    synchronous=FULL, committed before the reply) and an ES256-signed reply.

Run: ``python -m bench.reference ceiling|floor --port N --certs DIR --keys FILE --db FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import ssl
from pathlib import Path

import aiosqlite
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from plumbing import loop
from shared import envelope, pki
from shared.messages import UsageAccepted, decode_signed_request, encode


def _ssl(certs: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    return ctx


def ceiling_app() -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    return app


def floor_app(certs: Path, keys_file: Path, db: Path) -> web.Application:
    keys = {
        piid: serialization.load_der_public_key(bytes.fromhex(der))
        for piid, der in json.loads(keys_file.read_text()).items()
    }
    signing = pki.CertifiedKey(
        pki.load_certs((certs / "signing.pem").read_bytes())[0], pki.load_key((certs / "signing.key").read_bytes())
    )
    chain = pki.load_certs((certs / "signing.pem").read_bytes())
    conn: dict[str, aiosqlite.Connection] = {}

    async def startup(app: web.Application) -> None:
        c = await aiosqlite.connect(db, isolation_level=None)
        await c.execute("PRAGMA journal_mode = WAL")
        await c.execute("PRAGMA synchronous = FULL")
        await c.execute("CREATE TABLE IF NOT EXISTS reports (id TEXT PRIMARY KEY, piid TEXT, body BLOB)")
        conn["c"] = c

    async def cleanup(app: web.Application) -> None:
        await conn["c"].close()

    async def report(request: web.Request) -> web.Response:
        signed = envelope.parse(await request.read())
        piid = envelope.request_signer(signed)
        payload = envelope.verify(signed, keys[piid])  # type: ignore[arg-type]
        msg = decode_signed_request(payload)
        rid = msg.reports[0].report_id  # type: ignore[union-attr]
        with contextlib.suppress(sqlite3.IntegrityError):
            await conn["c"].execute("INSERT INTO reports (id, piid, body) VALUES (?, ?, ?)", (rid, piid, payload))
        reply = UsageAccepted(in_reply_to=msg.nonce, issued_at=msg.sent_at, accepted=[rid])
        jws = envelope.sign_reply(encode(reply), signing.key, chain, include_chain=False)
        return web.Response(text=jws, content_type=envelope.CONTENT_TYPE)

    app = web.Application()
    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    app.router.add_post("/{tail:.*}", report)
    return app


async def _serve(app: web.Application, port: int, certs: Path, port_file: Path | None) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=_ssl(certs))
    await site.start()
    bound = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    if port_file:
        port_file.write_text(str(bound))  # noqa: ASYNC240 - once, at start
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["ceiling", "floor"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", type=Path)
    p.add_argument("--certs", type=Path, required=True)
    p.add_argument("--keys", type=Path)
    p.add_argument("--db", type=Path)
    a = p.parse_args()
    app = ceiling_app() if a.kind == "ceiling" else floor_app(a.certs, a.keys, a.db)
    loop.run(_serve(app, a.port, a.certs, a.port_file))


if __name__ == "__main__":
    main()
