"""Starting an aiohttp app on a socket and stopping it on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import ssl

from aiohttp import web

from plumbing.web.middleware import PARSER_LIMITS


class ServerRef:
    """Filled by ``start``: the ``web.Server`` handling the app's connections, so a handler can
    close them (the TLS drills close kept-alive connections when the certificate changes)."""

    server: web.Server | None = None

    def close_connections(self, *, keep: object = None) -> int:
        """Close every open connection but ``keep`` (the caller's own ``request.protocol``) now,
        kept-alive idle ones included; how many were closed."""
        conns = [c for c in (self.server.connections if self.server is not None else []) if c is not keep]
        for conn in conns:
            conn.force_close()
        return len(conns)


SERVER = web.AppKey("http_server", ServerRef)


async def start(
    app: web.Application,
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    also: tuple[str, int] | None = None,
    reuse_port: bool = False,
) -> tuple[web.AppRunner, int]:
    """Start ``app``; return its runner and the bound port (``port`` 0 picks a free one).

    ``also`` adds a second listener serving the same app (see ``bound_ports``); ``reuse_port``
    lets other processes bind the same port (``SO_REUSEPORT``: the kernel spreads connections)."""
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=2.0,
        max_line_size=PARSER_LIMITS["max_line_size"],
        max_field_size=PARSER_LIMITS["max_field_size"],
        max_headers=PARSER_LIMITS["max_headers"],
    )
    await runner.setup()
    if SERVER in app and runner.server is not None:
        app[SERVER].server = runner.server
    reuse = reuse_port or None
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_port=reuse)
    await site.start()
    if also is not None:
        await web.TCPSite(runner, also[0], also[1], ssl_context=ssl_context, reuse_port=reuse).start()
    return runner, bound_ports(runner)[0]


def bound_ports(runner: web.AppRunner) -> list[int]:
    """The ports the runner listens on, in the order the sites started."""
    return [int(addr[1]) for addr in runner.addresses if isinstance(addr, tuple) and len(addr) >= 2]


async def wait_for_signal() -> None:
    """Return on the first SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
